"""Upgrading a store written by the released version (revision 0004, the old hash chain)
to the journal, on SQLite and a real PostgreSQL: the old chain is verified first, its
records become journal events, and the migration's event records the old head; a store
whose old chain does not verify is refused and left as it was.

The old stores are genuine: ``tests/fixtures/wave1_store`` holds dumps of databases the
released code wrote (its ``make.py`` says how they were made), restored here as they
are."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestrator.errors import EvidenceTampered
from orchestrator.evidence.store import EvidenceStore, schema_heads
from orchestrator.evidence.verify import verify_db
from orchestrator.evidence.writer import EvidenceDB

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wave1_store"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store at revision 0004_chain_rowid as the released version left it."""
    if request.param == "sqlite":
        with sqlite3.connect(tmp_path / "old.db") as conn:
            conn.executescript((FIXTURES / "sqlite.sql").read_text())
        conn.close()
        return f"sqlite:///{tmp_path}/old.db"
    import psycopg

    url = str(request.getfixturevalue("pg_dsn"))
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute((FIXTURES / "postgres.sql").read_text())
    return url


def _read(url: str, sql: str) -> list[sa.Row[Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)))
    finally:
        engine.dispose()


def test_old_chain_is_verified_converted_and_its_head_recorded(old_store: str) -> None:
    assert _read(old_store, "SELECT version_num FROM alembic_version")[0][0] == "0004_chain_rowid"
    chain = _read(
        old_store, "SELECT seq, table_name, pk, op, hash FROM evidence_chain ORDER BY seq"
    )
    newest: dict[tuple[str, str], int] = {}
    for seq, table, pk, op, _ in chain:
        if op == "delete":
            newest.pop((table, pk), None)
        else:
            newest[(table, pk)] = seq
    assert {t for t, _ in newest} >= {"run", "step_run", "finding", "schedule", "gameday"}
    db = EvidenceDB.open(old_store)  # upgrades
    try:
        assert verify_db(db).ok
        assert {r[0] for r in db.query("SELECT version_num FROM alembic_version")} == (
            schema_heads()
        )
        events = [
            json.loads(bytes(r[0])) for r in db.query("SELECT event FROM journal ORDER BY seq")
        ]
        (closed,) = db.query("SELECT status, owner FROM finding WHERE id = 1")
    finally:
        db.close()
    assert events[0]["kind"] == "journal.migrated"
    assert events[0]["data"] == {
        "old_chain": {"entries": len(chain), "head_seq": chain[-1][0], "head_hash": chain[-1][4]},
        "records": len(newest),
    }
    # one event per record, holding its current state, in the order of its newest entry
    assert [(e["kind"], e["pk"]) for e in events[1:]] == [
        (f"{t}.migrated", pk) for (t, pk), _ in sorted(newest.items(), key=lambda i: i[1])
    ]
    finding = next(e for e in events if e["kind"] == "finding.migrated" and e["pk"] == "1")
    assert (
        (finding["data"]["status"], finding["data"]["owner"])
        == tuple(closed)
        == ("closed", "dba-team")
    )
    engine = sa.create_engine(old_store)
    try:
        assert not sa.inspect(engine).has_table("evidence_chain")
    finally:
        engine.dispose()


def test_a_store_whose_old_chain_does_not_verify_is_not_upgraded(old_store: str) -> None:
    engine = sa.create_engine(old_store)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE step_run SET name = 'rewritten' WHERE id = 1"))
        with pytest.raises(EvidenceTampered, match="not upgraded"):
            EvidenceStore(old_store)
        with engine.connect() as conn:
            assert (
                conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
                == "0004_chain_rowid"
            )
            assert sa.inspect(conn).has_table("evidence_chain")
    finally:
        engine.dispose()


def test_a_bundle_exported_before_the_upgrade_still_anchors(
    old_store: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`drill evidence verify --head SEQ:HASH` with the chain head of a bundle the released
    version exported (its manifest's `chain`): the upgrade verified the old chain up to
    that head and recorded it, so it anchors; any other old head is a break that says
    what the journal does hold."""
    from tests.clihelp import drill_out

    (seq, digest), *_ = _read(
        old_store, "SELECT seq, hash FROM evidence_chain ORDER BY seq DESC LIMIT 1"
    )
    monkeypatch.setenv("DRILL_DATABASE", old_store)
    code, out = drill_out("evidence", "verify", "--json", "--head", f"{seq}:{digest}")
    assert code == 0 and json.loads(out)["ok"], out
    code, out = drill_out("evidence", "verify", "--json", "--head", f"{seq}:{'0' * 64}")
    assert code == 1, out
    detail = json.loads(out)["first_break"]["detail"]
    assert f"#{seq} {digest}" in detail and "before the upgrade" in detail, detail
