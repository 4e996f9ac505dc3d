"""`drill lab down|reset` while a run on the lab awaits recovery: refused, naming the run
and the way on; with --force the lab goes and the run ends ``crashed`` (not
``rollback_failed``), its pending rollbacks kept in the evidence as not played.

The orphan is real: drill is SIGKILLed by its test hook after the runbook's fault.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.defs import runbook
from tests.e2e.test_crash_safety import drill, killed_run, plays, runs, show

pytestmark = pytest.mark.slow


def test_lab_down_refuses_then_force_closes_the_orphan(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)

    for what in ("down", "reset"):
        refused = drill(workdir, "lab", what)
        assert refused.code == 2, refused.err
        line = refused.err.strip().splitlines()[0]
        assert line.startswith("drill: error: ") and f"run {run_id} awaits recovery" in line
        assert "drill recover --env lab" in refused.err and "--force" in refused.err
    assert [r["status"] for r in runs(workdir)] == ["running"], "a refusal changes nothing"

    forced = drill(workdir, "lab", "down", "--force")
    assert forced.code == 0, forced.err
    assert run_id in forced.err and "not played" in forced.err
    doc = show(workdir, run_id)
    assert doc["status"] == "crashed"
    (undo,) = [s for s in doc["steps"] if s["phase"] == "rollback"]
    assert undo["status"] == "cancelled" and "lab down --force" in undo["output"]["not_played"]
    kinds = {f["kind"]: f["severity"] for f in doc["findings"]}
    assert kinds == {"run_crashed": "high"}, "nothing failed to roll back"
    assert marker.exists() and plays(marker) == 0, "the rollback was not played"
    assert "recovery.lab_torn_down" in {e["kind"] for e in doc["timeline"]}
    with sqlite3.connect(workdir / ".drill" / "evidence.db") as conn:
        (log,) = conn.execute("SELECT content FROM artifact WHERE run_id = ?", (run_id,))
    assert b"rollback remove the marker: not played" in bytes(log[0])

    assert drill(workdir, "recover").code == 0  # nothing left to recover
    assert drill(workdir, "lab", "down").code == 0
    verified = drill(workdir, "evidence", "verify")
    assert verified.code == 0, verified.err


def test_the_refusal_names_yes_for_a_protected_environment(workdir: Path) -> None:
    """`drill recover --env E` refuses a protected E without --yes: the way on that the
    refusal names must be one that works."""
    from tests.e2e.defs import write

    write(workdir, "drill.yaml", "environments:\n  prod-lab: {provider: lab, protected: true}\n")
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker))
    point = "step:marker-runbook:1:end"
    killed = drill(workdir, "run", str(rb), "--env", "prod-lab", "--yes", crash=point)
    assert killed.code != 0 and f" at {point}" in killed.err, killed.err
    refused = drill(workdir, "lab", "down")
    assert refused.code == 2, refused.err
    assert "`drill recover --env prod-lab --yes`" in " ".join(refused.err.split())
    assert drill(workdir, "recover", "--env", "prod-lab", "--yes").code == 0
    assert drill(workdir, "lab", "down").code == 0


def test_force_on_a_protected_environment_needs_yes_and_records_the_approval(
    workdir: Path,
) -> None:
    """Closing a protected environment's orphan is a change to it: `--force` alone is
    refused (exit 2, nothing changed); with --yes the approval is recorded, as `drill
    recover --yes` records it."""
    from tests.e2e.defs import write

    write(workdir, "drill.yaml", "environments:\n  prod-lab: {provider: lab, protected: true}\n")
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker))
    point = "step:marker-runbook:1:end"
    killed = drill(workdir, "run", str(rb), "--env", "prod-lab", "--yes", crash=point)
    assert killed.code != 0 and f" at {point}" in killed.err, killed.err
    (entry,) = runs(workdir)
    run_id = str(entry["run_id"])
    approvals = len(show(workdir, run_id)["approvals"])  # type: ignore[arg-type]

    for what in ("down", "reset", "up"):  # (down first: a regression builds no lab)
        refused = drill(workdir, "lab", what, "--force")
        assert refused.code == 2, refused.err
        assert "protected" in refused.err and "--yes" in refused.err
    assert [r["status"] for r in runs(workdir)] == ["running"], "a refusal changes nothing"

    forced = drill(workdir, "lab", "down", "--force", "--yes")
    assert forced.code == 0, forced.err
    doc = show(workdir, run_id)
    assert doc["status"] == "crashed"
    recorded = doc["approvals"][approvals:]  # type: ignore[index]
    assert [a["env"] for a in recorded] == ["prod-lab"]
    assert "lab down --force" in recorded[0]["reason"] and recorded[0]["approved_by"]
