"""Evidence tables (DESIGN section 8).

Shaped like a journal: run → scenario run → step run, with timeline events,
measurements, probe series, findings, approvals and artifacts hanging off a run.
Rollbacks are first-class step rows (phase ``rollback``), which is also what makes
crash recovery possible: a rollback is written as ``pending`` *before* the action it
undoes starts, so a run killed mid-step still knows what to undo.

Times are stored as naive UTC (SQLite has no time zone) and returned aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from orchestrator.evidence.enums import (  # noqa: F401  (re-exported)
    FindingStatus,
    RunStatus,
    StepPhase,
    StepStatus,
    Trigger,
    utcnow,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the evidence store; use utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))


class EnvironmentRecord(SQLModel, table=True):
    __tablename__ = "environment"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    provider: str
    protected: bool = False
    created_at: datetime = _ts(nullable=False)


class Run(SQLModel, table=True):
    __tablename__ = "run"
    # "a drill's newest (successful) run" and "a success in this period" — status pages,
    # metrics and the dashboard ask these on every request; one index answers them
    __table_args__ = (sa.Index("ix_run_target_started_at", "target", "started_at"),)

    id: str = Field(primary_key=True)
    target: str = Field(index=True, description="drill/runbook/experiment id")
    target_kind: str
    env: str = Field(index=True)
    mode: str = "live"
    status: str = Field(default=RunStatus.RUNNING, index=True)
    trigger: str = Trigger.MANUAL
    who: str
    host: str
    pid: int
    started_at: datetime = _ts(nullable=False, index=True)
    ended_at: datetime | None = _ts()
    exit_code: int | None = None
    definition_hashes: dict[str, str] | None = _json()
    git_commit: str | None = None
    approved_by: str | None = None
    abort_requested: bool = False
    error: str | None = None
    schedule_id: str | None = None
    gameday_id: str | None = None


class ScenarioRun(SQLModel, table=True):
    __tablename__ = "scenario_run"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    seq: int
    scenario_id: str
    ref: str
    kind: str  # runbook | experiment
    status: str = RunStatus.RUNNING
    started_at: datetime = _ts(nullable=False)
    ended_at: datetime | None = _ts()
    fault_injected_at: datetime | None = _ts()
    service_restored_at: datetime | None = _ts()
    rto_s: float | None = None
    rpo_s: float | None = None
    lost_writes: int | None = None
    objective_rto_s: float | None = None
    objective_rpo_s: float | None = None
    met: bool | None = None
    notes: dict[str, Any] | None = _json()


class StepRun(SQLModel, table=True):
    __tablename__ = "step_run"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    scenario_run_id: int | None = Field(default=None, foreign_key="scenario_run.id")
    seq: int
    phase: str = StepPhase.STEP
    name: str
    kind: str  # action | probe | wait | manual | experiment | activity
    action: str | None = None
    args: dict[str, Any] | None = _json()
    status: str = StepStatus.PENDING
    started_at: datetime | None = _ts()
    ended_at: datetime | None = _ts()
    output: Any = _json()
    error: str | None = None
    rollback_of: int | None = Field(default=None, description="step_run.id this undoes")
    attempts: int = 0


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_event"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    scenario_run_id: int | None = Field(default=None, foreign_key="scenario_run.id")
    at: datetime = _ts(nullable=False)
    kind: str
    message: str
    data: dict[str, Any] | None = _json()


class Measurement(SQLModel, table=True):
    __tablename__ = "measurement"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    scenario_run_id: int | None = Field(default=None, foreign_key="scenario_run.id")
    name: str  # rto | rpo | outage | lost_writes | …
    value: float | None = None
    unit: str = "s"
    method: str
    interval_s: float | None = None
    error_bound_s: float | None = None
    objective: float | None = None
    met: bool | None = None
    details: dict[str, Any] | None = _json()


class ProbeSeries(SQLModel, table=True):
    """Raw probe samples, stored compactly (see orchestrator.measure)."""

    __tablename__ = "probe_series"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    scenario_run_id: int | None = Field(default=None, foreign_key="scenario_run.id")
    probe: str
    interval_s: float
    started_at: datetime = _ts(nullable=False)
    samples: int = 0
    encoding: str = "zlib+json"
    data: bytes = Field(default=b"", sa_column=sa.Column(sa.LargeBinary(), nullable=False))


class Finding(SQLModel, table=True):
    __tablename__ = "finding"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, foreign_key="run.id", index=True)
    scenario_run_id: int | None = Field(default=None, foreign_key="scenario_run.id")
    kind: str  # objective_missed | step_failed | rollback_failed | drill_overdue | …
    severity: str = "medium"
    title: str
    detail: str | None = None
    corrective_action: str | None = None
    status: str = FindingStatus.OPEN
    owner: str | None = None
    due_date: str | None = None
    resolution: str | None = None
    created_at: datetime = _ts(nullable=False)
    closed_at: datetime | None = _ts()
    drill: str | None = None
    env: str | None = None


class Approval(SQLModel, table=True):
    __tablename__ = "approval"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    env: str
    approved_by: str
    at: datetime = _ts(nullable=False)
    reason: str


class Artifact(SQLModel, table=True):
    __tablename__ = "artifact"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    scenario_run_id: int | None = Field(default=None, foreign_key="scenario_run.id")
    name: str
    media_type: str = "application/json"
    sha256: str
    size: int
    content: bytes = Field(default=b"", sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    created_at: datetime = _ts(nullable=False)
