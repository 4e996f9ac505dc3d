"""The engine's plain records mirror the SQLModel tables exactly (names, order, types,
defaults, keys): the schema has one source of truth, and this test keeps them together."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa

import orchestrator.evidence.models as models
from orchestrator.evidence.records import RECORD_TYPES, Record, columns

MODEL_OF = {m.__tablename__: m for m in (
    models.Run, models.ScenarioRun, models.StepRun, models.TimelineEvent, models.Measurement,
    models.ProbeSeries, models.Finding, models.Approval, models.Artifact)}


def _kind(col: sa.Column[Any]) -> str:
    if isinstance(col.type, models.UTCDateTime):
        return "datetime"
    t = getattr(col.type, "impl_instance", col.type)  # e.g. SQLModel's AutoString
    for cls, kind in ((sa.JSON, "json"), (sa.LargeBinary, "bytes"), (sa.Boolean, "bool"),
                      (sa.Float, "float"), (sa.Integer, "int"), (sa.String, "str")):
        if isinstance(t, cls):
            return kind
    raise AssertionError(f"unmapped column type {t!r} of {col}")


def test_every_engine_table_has_a_record() -> None:
    assert {r.table for r in RECORD_TYPES} == set(MODEL_OF)


@pytest.mark.parametrize("record", RECORD_TYPES, ids=lambda r: r.table)
def test_columns_types_and_keys_match(record: type[Record]) -> None:
    table = MODEL_OF[record.table].__table__  # type: ignore[attr-defined]
    assert columns(record) == [(c.name, _kind(c)) for c in table.columns]
    pk = list(table.primary_key.columns)
    assert [c.name for c in pk] == [record.pk]
    assert record.autoincrement == isinstance(pk[0].type, sa.Integer)


@pytest.mark.parametrize("record", RECORD_TYPES, ids=lambda r: r.table)
def test_defaults_match(record: type[Record]) -> None:
    model_fields = MODEL_OF[record.table].model_fields
    for f in dataclasses.fields(record):
        if f.name.startswith("_"):
            continue
        mf = model_fields[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required:
            assert mf.is_required() or mf.default is None, f.name
        else:
            assert f.default == mf.default, f"{record.table}.{f.name}"
