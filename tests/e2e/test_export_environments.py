"""The environments the exported runs ran on are in the bundle (runs.json, the manifest,
report.html), checked against their journal events like every exported record — also
one recorded in an earlier period — and a changed environment row stops the export."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from tests.clihelp import drill
from tests.integration.test_evidence_chain import write_definitions


@pytest.fixture()
def two_quarters(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``mini`` on lab in 2026-Q3 (the environment is recorded then) and in 2026-Q4."""
    write_definitions(workdir)
    for when in (datetime(2026, 8, 14, 9, 0, tzinfo=UTC), datetime(2026, 11, 2, 9, 0, tzinfo=UTC)):
        with time_machine.travel(when, tick=True):
            assert drill(capsys, "run", "mini", "--env", "lab").code == 1  # one deviates
    return workdir


def _export(workdir: Path, capsys: pytest.CaptureFixture[str], name: str) -> tuple[int, str, Path]:
    out = workdir / name
    res = drill(capsys, "evidence", "export", "--period", "2026-Q4", "--out", str(out))
    return res.code, res.err, out


def test_the_runs_environment_is_exported_and_verified(
    two_quarters: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, bundle = _export(two_quarters, capsys, "q4.zip")
    assert code == 0, err
    with zipfile.ZipFile(bundle) as z:
        runs = json.loads(z.read("runs.json"))
        manifest = json.loads(z.read("manifest.json"))
        html = z.read("report.html").decode()
    assert len(runs["runs"]) == 1, "only the Q4 run"
    (env,) = runs["environments"]
    assert (env["name"], env["provider"], env["protected"]) == ("lab", "lab", False)
    assert env["created_at"].startswith("2026-08-14"), "recorded in Q3, before the period"
    assert manifest["environments"] == ["lab"]
    assert '<h2 id="environments">' in html and "<td>lab</td><td>lab</td><td>no</td>" in html
    verified = drill(capsys, "evidence", "verify", str(bundle))
    assert verified.code == 0, verified.err


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE environment SET protected = 1",  # "no approval was needed"
        "UPDATE environment SET created_at = '2026-11-30 00:00:00.000000'",  # hide its event
    ],
)
def test_a_changed_environment_row_stops_the_export(
    two_quarters: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    with sqlite3.connect(two_quarters / ".drill" / "evidence.db") as conn:
        conn.execute(change)
    code, err, bundle = _export(two_quarters, capsys, "q4.zip")
    assert code == 1 and "environment" in err, err
    assert not bundle.exists()


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_environment_events_are_found_through_their_index(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """An environment is usually recorded once, with the store's first run: the export
    finds its events through the journal's partial index (migration 0006), not by reading
    every event since — the query's predicate is the index's, on both databases."""
    import sqlalchemy as sa

    from orchestrator.evidence.journal import ENVIRONMENT_EVENTS
    from orchestrator.evidence.store import EvidenceStore

    url = (
        f"sqlite:///{tmp_path}/evidence.db"
        if dialect == "sqlite"
        else str(request.getfixturevalue("pg_dsn"))
    )
    store = EvidenceStore(url)
    query = f"SELECT seq, event FROM journal WHERE {ENVIRONMENT_EVENTS[dialect]} ORDER BY seq"
    try:
        with store.engine.connect() as conn:
            if dialect == "sqlite":
                plan = str(conn.execute(sa.text(f"EXPLAIN QUERY PLAN {query}")).fetchall())
            else:  # an empty table is scanned whatever the indexes: ask whether it could be used
                conn.execute(sa.text("SET enable_seqscan = off"))
                plan = str(conn.execute(sa.text(f"EXPLAIN {query}")).fetchall())
    finally:
        store.dispose()
    assert "ix_journal_environment" in plan, plan
