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


def _forge_environment_event(db: Path, rehash_from: int) -> None:
    """The environment recorded protected, its row and its event alike: the event's hash
    recomputed, and the hashes of the events after it up to ``rehash_from``'s before."""
    import hashlib

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE environment SET protected = 1")
        ((seq, ev),) = conn.execute(
            "SELECT seq, event FROM journal WHERE substr(event, 1, 21) = "
            'CAST(\'{"kind":"environment.\' AS BLOB)'
        ).fetchall()
        forged = bytes(ev).replace(b'"protected":false', b'"protected":true')
        assert forged != bytes(ev)
        conn.execute("UPDATE journal SET event = ? WHERE seq = ?", (forged, seq))
        digest = ""
        for n, prev, event in conn.execute(
            "SELECT seq, prev, event FROM journal WHERE seq >= ? AND seq < ? ORDER BY seq",
            (seq, max(rehash_from, seq + 1)),
        ).fetchall():
            if n > seq:
                conn.execute("UPDATE journal SET prev = ? WHERE seq = ?", (digest, n))
                prev = digest
            digest = hashlib.sha256(prev.encode() + b"\n" + bytes(event)).hexdigest()
            conn.execute("UPDATE journal SET hash = ? WHERE seq = ?", (digest, n))


@pytest.mark.parametrize("rehashed", ["its own hash", "up to the period"])
def test_an_environment_event_before_the_period_changed_with_its_row_stops_the_export(
    two_quarters: Path, capsys: pytest.CaptureFixture[str], rehashed: str
) -> None:
    """The export checks the period's part of the chain; an environment recorded before
    the period is checked against its event — which must itself be a link of the chain:
    its hash recomputes and the next event names it (else the chain was rewritten from
    there, up to the head drill remembers)."""
    db = two_quarters / ".drill" / "evidence.db"
    with sqlite3.connect(db) as conn:
        ((q4_first,),) = conn.execute(
            'SELECT MIN(seq) FROM journal WHERE CAST(event AS TEXT) LIKE \'%"at":"2026-11%\''
        ).fetchall()
    _forge_environment_event(db, q4_first if rehashed == "up to the period" else 0)
    assert drill(capsys, "evidence", "verify").code == 1  # the whole journal: of course
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
