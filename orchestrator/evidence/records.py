"""The evidence tables, declared once, as plain dataclasses (no ORM).

Every journaled (projection) table is one :class:`Record` subclass, its fields the
table's columns in order: these are what :class:`~orchestrator.evidence.writer.EvidenceDB`
writes (the only writer: DB-API, journaled) and reads, and what the verifier and the
journal migration compare (:func:`projections`). The schedule's tables are declared the
same way in :mod:`orchestrator.schedule.records`. Why not SQLModel: ``drill run`` must
start about as fast as ``chaos run``, and importing SQLAlchemy alone costs more than
that; one declaration also means there is nothing to keep in step. The DDL is Alembic's
migrations (explicit ``op.*`` code).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from orchestrator.evidence.enums import FindingStatus, RunStatus, StepPhase, StepStatus, Trigger
from orchestrator.evidence.journal import ColumnType


@dataclass(kw_only=True, eq=False)
class Record:
    """Base of every record: knows its table and whether it has been written yet."""

    table: ClassVar[str]
    pk: ClassVar[str] = "id"
    autoincrement: ClassVar[bool] = True
    _stored: bool = field(default=False, repr=False)
    _snapshot: dict[str, Any] | None = field(default=None, repr=False)  # as last written


@dataclass(kw_only=True, eq=False)
class Environment(Record):
    """An environment as runs saw it (provider, protected): written at a run's start when
    new or changed (``Recorder.environment``); not part of any run's records."""

    table: ClassVar[str] = "environment"

    id: int | None = None
    name: str
    provider: str
    protected: bool = False
    created_at: datetime


@dataclass(kw_only=True, eq=False)
class Run(Record):
    """One `drill run`: what ran where, by whom, and how it ended."""

    table: ClassVar[str] = "run"
    autoincrement: ClassVar[bool] = False

    id: str
    target: str
    target_kind: str
    env: str
    mode: str = "live"
    status: str = RunStatus.RUNNING
    trigger: str = Trigger.MANUAL
    who: str
    host: str
    pid: int
    started_at: datetime
    ended_at: datetime | None = None
    exit_code: int | None = None
    definition_hashes: dict[str, str] | None = None
    git_commit: str | None = None
    approved_by: str | None = None
    abort_requested: bool = False
    error: str | None = None
    schedule_id: str | None = None
    gameday_id: str | None = None


@dataclass(kw_only=True, eq=False)
class ScenarioRun(Record):
    """One scenario of a run, with its measured RTO/RPO and its objectives."""

    table: ClassVar[str] = "scenario_run"

    id: int | None = None
    run_id: str
    seq: int
    scenario_id: str
    ref: str
    kind: str
    status: str = RunStatus.RUNNING
    started_at: datetime
    ended_at: datetime | None = None
    fault_injected_at: datetime | None = None
    service_restored_at: datetime | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    lost_writes: int | None = None
    objective_rto_s: float | None = None
    objective_rpo_s: float | None = None
    met: bool | None = None
    notes: dict[str, Any] | None = None


@dataclass(kw_only=True, eq=False)
class StepRun(Record):
    """One step (or rollback) of a scenario, as it ran."""

    table: ClassVar[str] = "step_run"

    id: int | None = None
    run_id: str
    scenario_run_id: int | None = None
    seq: int
    phase: str = StepPhase.STEP
    name: str
    kind: str
    action: str | None = None
    args: dict[str, Any] | None = None
    status: str = StepStatus.PENDING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output: Any = None
    error: str | None = None
    rollback_of: int | None = None
    attempts: int = 0


@dataclass(kw_only=True, eq=False)
class TimelineEvent(Record):
    """One line of a run's timeline (marks, notes, scenarios starting and ending)."""

    table: ClassVar[str] = "timeline_event"

    id: int | None = None
    run_id: str
    scenario_run_id: int | None = None
    at: datetime
    kind: str
    message: str
    data: dict[str, Any] | None = None


@dataclass(kw_only=True, eq=False)
class Measurement(Record):
    """One measurement of a scenario, against its objective."""

    table: ClassVar[str] = "measurement"

    id: int | None = None
    run_id: str
    scenario_run_id: int | None = None
    name: str
    value: float | None = None
    unit: str = "s"
    method: str
    interval_s: float | None = None
    error_bound_s: float | None = None
    objective: float | None = None
    met: bool | None = None
    details: dict[str, Any] | None = None


@dataclass(kw_only=True, eq=False)
class ProbeSeries(Record):
    """One probe's raw samples during a scenario (compressed JSON)."""

    table: ClassVar[str] = "probe_series"

    id: int | None = None
    run_id: str
    scenario_run_id: int | None = None
    probe: str
    interval_s: float
    started_at: datetime
    samples: int = 0
    encoding: str = "zlib+json"
    data: bytes = b""


@dataclass(kw_only=True, eq=False)
class Finding(Record):
    """Something a run found to fix (a missed objective, a failed step), tracked to closure."""

    table: ClassVar[str] = "finding"

    id: int | None = None
    run_id: str | None = None
    scenario_run_id: int | None = None
    kind: str
    severity: str = "medium"
    title: str
    detail: str | None = None
    corrective_action: str | None = None
    status: str = FindingStatus.OPEN
    owner: str | None = None
    due_date: str | None = None
    resolution: str | None = None
    created_at: datetime
    closed_at: datetime | None = None
    drill: str | None = None
    env: str | None = None


@dataclass(kw_only=True, eq=False)
class Approval(Record):
    """Who confirmed a mutating run on a protected environment, and why."""

    table: ClassVar[str] = "approval"

    id: int | None = None
    run_id: str
    env: str
    approved_by: str
    at: datetime
    reason: str


@dataclass(kw_only=True, eq=False)
class Artifact(Record):
    """A file kept with a run (such as chaos's journal), with its sha256."""

    table: ClassVar[str] = "artifact"

    id: int | None = None
    run_id: str
    scenario_run_id: int | None = None
    name: str
    media_type: str = "application/json"
    sha256: str
    size: int
    content: bytes = b""
    created_at: datetime


RECORD_TYPES: tuple[type[Record], ...] = (
    Environment,
    Run,
    ScenarioRun,
    StepRun,
    TimelineEvent,
    Measurement,
    ProbeSeries,
    Finding,
    Approval,
    Artifact,
)

_TYPES: dict[str, ColumnType] = {
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "datetime": "datetime",
    "bytes": "bytes",
}


@dataclass(frozen=True)
class Projection:
    """One projection table as the writer, the verifier and the migration read it: its
    columns (in order) with their storage type, key and run column."""

    name: str
    names: list[str]
    types: list[ColumnType]
    pk: str
    #: the column naming the run a row is evidence of (``id`` for ``run`` itself), or None
    run_col: str | None

    def select(self) -> str:
        cols = ", ".join(f'"{n}"' for n in self.names)
        return f'SELECT {cols} FROM "{self.name}"'


_PROJECTIONS: dict[type[Record], Projection] = {}


def projection(cls: type[Record]) -> Projection:
    """The table of ``cls``: its columns in order, with how each is stored (from the
    annotations: a type that is not a plain one is JSON)."""
    spec = _PROJECTIONS.get(cls)
    if spec is None:
        names, types = [], []
        for f in dataclasses.fields(cls):
            if not f.name.startswith("_"):
                names.append(f.name)
                types.append(_TYPES.get(str(f.type).replace(" | None", ""), "json"))
        run_col = "id" if cls.table == "run" else "run_id" if "run_id" in names else None
        spec = _PROJECTIONS[cls] = Projection(cls.table, names, types, cls.pk, run_col)
    return spec


def projections() -> list[Projection]:
    """Every journaled table: the evidence records and the schedule's."""
    from orchestrator.schedule.records import SCHEDULE_RECORD_TYPES

    return [projection(cls) for cls in (*RECORD_TYPES, *SCHEDULE_RECORD_TYPES)]
