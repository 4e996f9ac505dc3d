"""The migrations a new store is created with (SQLite and a real PostgreSQL) give exactly
the tables drill declares — the journaled ones as record classes (same columns in the same
order, compatible types, same key and nullability), the scheduler's operational ones as
SQLModel tables, and nothing else, so no evidence table escapes the journal — and a store
stamped with a revision drill no longer ships is refused with what to do (exit 2, one
error line), never a traceback."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
import sqlalchemy as sa

from orchestrator.cli import main
from orchestrator.errors import StoreUnavailable
from orchestrator.evidence.store import SQUASHED, EvidenceStore, schema_heads
from orchestrator.evidence.writer import EvidenceDB

SA_KIND = ((sa.JSON, "json"), (sa.LargeBinary, "bytes"), (sa.Boolean, "bool"),
           (sa.Float, "float"), (sa.Numeric, "float"), (sa.Integer, "int"),
           (sa.DateTime, "datetime"), (sa.String, "str"), (sa.Text, "str"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/evidence.db"
    return str(request.getfixturevalue("pg_dsn"))


def test_a_new_store_has_exactly_the_declared_schema(url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import orchestrator.schedule.models  # noqa: F401  (the operational tables)
    from orchestrator.evidence import journal
    from orchestrator.evidence.records import projections

    store = EvidenceStore(url)
    try:
        with store.engine.connect() as conn:
            assert {
                r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            } == schema_heads()
            assert not sa.inspect(conn).has_table("evidence_chain")
            operational = set(SQLModel.metadata.tables)
            ctx = MigrationContext.configure(
                conn,
                opts={"include_object": lambda _o, name, kind, reflected, _c: not (
                    kind == "table" and reflected and name not in operational)},
            )
            assert compare_metadata(ctx, SQLModel.metadata) == []
            meta = sa.MetaData()
            meta.reflect(conn)
    finally:
        store.dispose()
    specs = projections()
    for spec in specs:
        _same_columns(spec, meta.tables[spec.name])
    journaled = {p.name for p in specs}
    assert not journaled & operational
    assert set(meta.tables) == journaled | operational | {journal.TABLE, "alembic_version"}


def _kind(col: sa.Column[Any]) -> str:
    for cls, kind in SA_KIND:
        if isinstance(col.type, cls):
            return kind
    raise AssertionError(f"unmapped column type {col.type!r} of {col}")


def _optional(hint: Any) -> bool:
    union = get_origin(hint) in (Union, types.UnionType)
    return hint is Any or (union and type(None) in get_args(hint))


def _same_columns(spec: Any, table: sa.Table) -> None:
    from orchestrator.evidence.records import RECORD_TYPES
    from orchestrator.schedule.records import SCHEDULE_RECORD_TYPES

    assert [c.name for c in table.columns] == spec.names, spec.name
    assert [_kind(c) for c in table.columns] == spec.types, spec.name
    assert [c.name for c in table.primary_key.columns] == [spec.pk], spec.name
    record = next(r for r in (*RECORD_TYPES, *SCHEDULE_RECORD_TYPES) if r.table == spec.name)
    hints = get_type_hints(record)
    for f in dataclasses.fields(record):
        if not f.name.startswith("_") and f.name != spec.pk:
            assert table.c[f.name].nullable == _optional(hints[f.name]), f"{spec.name}.{f.name}"


def _stamp(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                )
            )
            conn.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", sorted(SQUASHED))
def test_a_store_at_a_squashed_revision_is_refused_with_what_to_do(
    url: str,
    revision: str,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _stamp(url, revision)
    with pytest.raises(StoreUnavailable, match=f"at schema revision {revision}, a development"):
        EvidenceStore(url)
    with pytest.raises(StoreUnavailable, match=revision) as refused:
        EvidenceDB.open(url)
    assert "previous release of drill" in (refused.value.hint or "")
    monkeypatch.setenv("DRILL_DATABASE", url)
    capsys.readouterr()
    assert main(["evidence", "verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drill: error: evidence database ") and revision in err
    assert "Traceback" not in err and len(err.splitlines()) == 2  # the error and its hint


def test_a_store_from_a_newer_drill_is_refused(url: str) -> None:
    _stamp(url, "0099_future")
    with pytest.raises(StoreUnavailable, match="0099_future, which this drill does not know"):
        EvidenceStore(url)
