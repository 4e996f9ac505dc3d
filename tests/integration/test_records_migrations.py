"""The record classes (the one declaration of every journaled table) agree with the tables
the Alembic migrations create, on SQLite and a real PostgreSQL: same columns in the same
order, compatible types, same key and nullability. And every table of a migrated store
is either journaled (a projection verify checks), the journal itself, or one of the
scheduler's operational tables — so no evidence table can escape the journal unnoticed."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import orchestrator.schedule.models  # noqa: F401  (the operational tables)
from orchestrator.evidence import journal
from orchestrator.evidence.records import RECORD_TYPES, Record, projections
from orchestrator.evidence.store import EvidenceStore
from orchestrator.schedule.records import SCHEDULE_RECORD_TYPES

ALL = (*RECORD_TYPES, *SCHEDULE_RECORD_TYPES)
SA_KIND = ((sa.JSON, "json"), (sa.LargeBinary, "bytes"), (sa.Boolean, "bool"),
           (sa.Float, "float"), (sa.Numeric, "float"), (sa.Integer, "int"),
           (sa.DateTime, "datetime"), (sa.String, "str"), (sa.Text, "str"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tables(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, sa.Table]:
    url = (f"sqlite:///{tmp_path}/evidence.db" if request.param == "sqlite"
           else request.getfixturevalue("pg_dsn"))
    store = EvidenceStore(url)
    meta = sa.MetaData()
    try:
        meta.reflect(store.engine)
    finally:
        store.dispose()
    return dict(meta.tables)


def _kind(col: sa.Column[Any]) -> str:
    for cls, kind in SA_KIND:
        if isinstance(col.type, cls):
            return kind
    raise AssertionError(f"unmapped column type {col.type!r} of {col}")


def _optional(hint: Any) -> bool:
    union = get_origin(hint) in (Union, types.UnionType)
    return hint is Any or (union and type(None) in get_args(hint))


def test_records_match_the_migrated_tables(tables: dict[str, sa.Table]) -> None:
    for record in ALL:
        _check(record, tables[record.table])
    journaled = {r.table for r in ALL}
    operational = set(SQLModel.metadata.tables)
    assert not journaled & operational
    assert set(tables) == journaled | operational | {journal.TABLE, "alembic_version"}


def _check(record: type[Record], table: sa.Table) -> None:
    spec = next(p for p in projections() if p.name == record.table)
    assert [c.name for c in table.columns] == spec.names, record.table
    assert [_kind(c) for c in table.columns] == spec.types, record.table
    assert [c.name for c in table.primary_key.columns] == [record.pk], record.table
    hints = get_type_hints(record)
    for f in dataclasses.fields(record):
        if f.name.startswith("_") or f.name == record.pk:
            continue
        assert table.c[f.name].nullable == _optional(hints[f.name]), f"{record.table}.{f.name}"

