"""Upgrading a store written with the old hash chain (revision 0004) to the journal, on
SQLite and a real PostgreSQL: the old chain is verified first, its records become
journal events, and the migration's event records the old head; a store whose old chain
does not verify is refused and left as it was."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestrator.errors import EvidenceTampered
from orchestrator.evidence import journal
from orchestrator.evidence.store import MIGRATIONS_DIR, EvidenceStore
from orchestrator.evidence.verify import verify_db
from orchestrator.evidence.writer import EvidenceDB

_spec = importlib.util.spec_from_file_location(
    "m0005", MIGRATIONS_DIR / "versions" / "0005_journal.py")
assert _spec and _spec.loader
m0005: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(m0005)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store at revision 0004 with two runs, a step and a finding, chained the old way
    (one entry per committed row version)."""
    from alembic import command
    from alembic.config import Config

    url = (f"sqlite:///{tmp_path}/old.db" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_dsn")))
    store = EvidenceStore(url, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    meta = sa.MetaData()
    at = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004_chain_rowid")
        meta.reflect(conn, only=["run", "step_run", "finding", "evidence_chain"])
        run, step, finding = meta.tables["run"], meta.tables["step_run"], meta.tables["finding"]
        versions: list[tuple[sa.Table, Any, str, str | None]] = []
        for rid in ("r-old-1", "r-old-2"):
            conn.execute(run.insert().values(
                id=rid, target="quarterly-dr", target_kind="drill", env="lab", mode="live",
                status="running", trigger="manual", who="me", host="h", pid=1,
                started_at=at.replace(tzinfo=None), abort_requested=False))
            versions.append((run, rid, "insert", rid))
        conn.execute(step.insert().values(id=1, run_id="r-old-1", seq=1, phase="step",
                                          name="fail over", kind="action", status="succeeded",
                                          attempts=1))
        versions.append((step, 1, "insert", "r-old-1"))
        conn.execute(run.update().where(run.c.id == "r-old-1").values(
            status="succeeded", ended_at=at.replace(tzinfo=None)))
        versions.append((run, "r-old-1", "update", "r-old-1"))
        conn.execute(finding.insert().values(id=1, kind="drill_overdue", severity="high",
                                             title="overdue", status="open",
                                             created_at=at.replace(tzinfo=None)))
        versions.append((finding, 1, "insert", None))
        prev, stamp = journal.GENESIS, "2026-10-05T12:00:00.000000Z"
        for seq, (table, pk, op, run_id) in enumerate(versions, 1):
            typed = _as_the_old_orm_read_it(table.name)
            row = conn.execute(sa.select(typed).where(typed.c.id == pk)).one()
            digest = m0005._digest(row)
            h = hashlib.sha256(f"{seq}\n{table.name}\n{pk}\n{op}\n{run_id or ''}\n{digest}\n"
                               f"{stamp}\n{prev}".encode()).hexdigest()
            conn.execute(meta.tables["evidence_chain"].insert().values(
                seq=seq, table_name=table.name, pk=str(pk), op=op, run_id=run_id,
                digest=digest, at=stamp, prev=prev, hash=h))
            prev = h
    store.dispose()
    return url


def _as_the_old_orm_read_it(name: str) -> sa.Table:
    """The table with the types drill's old SQLModel tables had (aware UTC datetimes, JSON
    parsed, booleans): the old chain's digests were computed from such values."""
    from orchestrator.evidence.records import projections
    from orchestrator.schedule.models import UTCDateTime

    kinds: dict[str, Any] = {"str": sa.String, "int": sa.Integer, "float": sa.Float,
                             "bool": sa.Boolean, "datetime": UTCDateTime, "json": sa.JSON,
                             "bytes": sa.LargeBinary}
    spec = next(p for p in projections() if p.name == name)
    return sa.Table(name, sa.MetaData(), *[sa.Column(n, kinds[t]()) for n, t in
                                           zip(spec.names, spec.types, strict=True)])


def _events(url: str) -> list[dict[str, Any]]:
    db = EvidenceDB(url)
    try:
        return [json.loads(bytes(r[0])) for r in db.query("SELECT event FROM journal "
                                                          "ORDER BY seq")]
    finally:
        db.close()


def test_old_chain_is_verified_converted_and_its_head_recorded(old_store: str) -> None:
    engine = sa.create_engine(old_store)
    with engine.connect() as conn:
        head = conn.execute(sa.text("SELECT seq, hash FROM evidence_chain ORDER BY seq DESC "
                                    "LIMIT 1")).one()
    engine.dispose()
    db = EvidenceDB.open(old_store)  # upgrades
    try:
        assert verify_db(db).ok
        assert "0006_journal_lean" in {r[0] for r in db.query(
            "SELECT version_num FROM alembic_version")}
    finally:
        db.close()
    events = _events(old_store)
    assert events[0]["kind"] == "journal.migrated"
    assert events[0]["data"]["old_chain"] == {"entries": 5, "head_seq": head[0],
                                              "head_hash": head[1]}
    assert [(e["kind"], e["pk"]) for e in events[1:]] == [
        ("run.migrated", "r-old-2"), ("step_run.migrated", "1"), ("run.migrated", "r-old-1"),
        ("finding.migrated", "1")]
    assert events[3]["data"]["status"] == "succeeded"  # the record's current state
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
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")
                                ).scalar() == "0004_chain_rowid"
            assert sa.inspect(conn).has_table("evidence_chain")
    finally:
        engine.dispose()
