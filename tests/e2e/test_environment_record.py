"""DESIGN 8 lists the environment among the evidence records; nothing wrote it. A run
records its environment as configured (provider, protected) once, and again when that
changes — an update event, so the evidence says whether a run needed an approval."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.clihelp import drill_out
from tests.integration.test_evidence_chain import write_definitions


def _environment_events(workdir: Path) -> list[dict[str, object]]:
    with sqlite3.connect(workdir / ".drill" / "evidence.db") as conn:
        rows = conn.execute("SELECT event FROM journal ORDER BY seq").fetchall()
    events = [json.loads(bytes(r[0])) for r in rows]
    return [e for e in events if str(e["kind"]).startswith("environment.")]


def test_a_run_records_its_environment_once_and_its_changes(workdir: Path) -> None:
    write_definitions(workdir)
    assert drill_out("run", "mini", "--env", "lab")[0] == 1  # one scenario deviates
    assert drill_out("run", "mini", "--env", "lab")[0] == 1
    (first,) = _environment_events(workdir)
    assert first["kind"] == "environment.insert"
    assert first["data"]["name"] == "lab" and first["data"]["provider"] == "lab"  # type: ignore[index]
    assert first["data"]["protected"] is False  # type: ignore[index]

    (workdir / "drill.yaml").write_text("environments:\n  lab: {provider: lab, protected: true}\n")
    assert drill_out("run", "mini", "--env", "lab", "--yes")[0] == 1
    events = _environment_events(workdir)
    assert [e["kind"] for e in events] == ["environment.insert", "environment.update"]
    assert events[1]["data"]["protected"] is True  # type: ignore[index]
    assert drill_out("evidence", "verify")[0] == 0
