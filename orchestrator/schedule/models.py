"""Evidence tables of scheduling: schedules, fires, game days, scheduler instances.

Why a fire table: APScheduler 3.x is not built for several schedulers sharing one
job store — each may pick the same due job. Every fire therefore first *claims*
``(schedule_id, scheduled_at)`` in :class:`ScheduleFire`, whose unique constraint
lets exactly one scheduler win, on SQLite and PostgreSQL alike. The same rows are the
audit trail of what was run, skipped (blackout, busy environment) or missed.

A fire row is evidence of its *schedule* and links to the run it started as
``launched_run_id`` (not ``run_id``): it is completed after that run has ended,
which the hash chain refuses for a run's own records; each version is chained.
Heartbeats (:class:`SchedulerInstance`), webhook URLs and APScheduler's job table
are operational state and stay out of the chain.

Schedules are never deleted, only marked ``removed_at``: an auditor can still see
what was scheduled when. Webhook URLs can carry tokens, so the game day row keeps
them redacted; the usable URLs live in :class:`NotifyEndpoint`, which is
configuration, not evidence (exports must leave it out).

APScheduler creates its own ``apscheduler_jobs`` table on start; it is declared here
(same columns) so the Alembic revision creates it first — two schedulers starting
at once would otherwise race on ``CREATE TABLE`` — and so autogenerate never
proposes to drop it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.evidence.models import UTCDateTime

APSCHEDULER_TABLE = "apscheduler_jobs"


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))


class ScheduleKind(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    DATE = "date"  # one-shot (--at)


class ScheduleAction(StrEnum):
    RUN = "run"  # `drill run TARGET --env ENV`
    GAMEDAY_ANNOUNCE = "gameday.announce"
    GAMEDAY_RUN = "gameday.run"


class ScheduleSource(StrEnum):
    CLI = "cli"  # drill schedule add
    DRILL = "drill"  # the drill's own `schedule:` field (drill schedule sync)
    GAMEDAY = "gameday"


class FireStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # blackout window, environment busy, previous fire still running
    MISSED = "missed"  # no scheduler was up within the misfire grace time
    LOST = "lost"  # the scheduler died while its child run was in flight


class GameDayStatus(StrEnum):
    PLANNED = "planned"
    ANNOUNCED = "announced"
    RUNNING = "running"
    COMPLETED = "completed"  # every drill succeeded
    FAILED = "failed"
    SKIPPED = "skipped"  # fell in a blackout window


class Schedule(SQLModel, table=True):
    __tablename__ = "schedule"

    id: str = Field(primary_key=True)
    target: str = Field(index=True, description="drill/runbook/experiment id, or game day id")
    env: str
    action: str = ScheduleAction.RUN
    kind: str  # ScheduleKind
    expr: str = Field(description="cron expression, interval seconds, or ISO instant")
    timezone: str = "UTC"
    start_at: datetime = _ts(nullable=False)  # interval anchor: fires at start + k·every
    approved_by: str | None = Field(default=None, description="--yes on a protected env")
    source: str = ScheduleSource.CLI
    created_by: str
    created_at: datetime = _ts(nullable=False)
    removed_at: datetime | None = _ts()
    removed_by: str | None = None


class ScheduleRunArgs(SQLModel, table=True):
    """Extra `drill run` options of a schedule's every fire: an experiment's --var and
    --var-file (absolute paths), as given to `drill schedule add`.

    A table of its own (migration 0006): schedules journaled before it existed keep
    their exact rows."""

    __tablename__ = "schedule_run_args"

    schedule_id: str = Field(primary_key=True)
    run_args: list[str] = Field(default_factory=list,
                                sa_column=sa.Column(sa.JSON(), nullable=False))


class ScheduleFire(SQLModel, table=True):
    __tablename__ = "schedule_fire"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "scheduled_at",
                                          name="uq_schedule_fire_once"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str = Field(index=True)
    target: str = Field(index=True)
    env: str
    scheduled_at: datetime = _ts(nullable=False)
    claimed_at: datetime = _ts(nullable=False)
    claimed_by: str = Field(description="scheduler instance id")
    status: str = FireStatus.RUNNING
    reason: str | None = None
    launched_run_id: str | None = Field(default=None, index=True,
                                        description="the run this fire started")
    exit_code: int | None = None
    ended_at: datetime | None = _ts()
    lag_s: float | None = Field(default=None, description="claimed_at - scheduled_at")


class GameDay(SQLModel, table=True):
    __tablename__ = "gameday"

    id: str = Field(primary_key=True)
    title: str
    scheduled_for: datetime = _ts(nullable=False, index=True)
    timezone: str = "UTC"
    env: str
    drills: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    participants: list[str] = Field(default_factory=list,
                                    sa_column=sa.Column(sa.JSON(), nullable=False))
    notify: list[str] | None = _json()  # redacted, for display only
    announce_before_s: float = 86400.0
    status: str = GameDayStatus.PLANNED
    approved_by: str | None = None
    runbooks: list[dict[str, Any]] | None = _json()
    runbooks_dir: str | None = None
    run_ids: list[str] | None = _json()
    summary: dict[str, Any] | None = _json()
    announced_at: datetime | None = _ts()
    started_at: datetime | None = _ts()
    ended_at: datetime | None = _ts()
    created_by: str
    created_at: datetime = _ts(nullable=False)


class NotifyEndpoint(SQLModel, table=True):
    """Webhook URLs of a game day (configuration, not evidence: never exported)."""

    __tablename__ = "notify_endpoint"
    __table_args__ = {"info": {"chain": False}}

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(index=True, description="game day id")
    url: str


class SchedulerInstance(SQLModel, table=True):
    """One `drill scheduler run` process, with its heartbeat (`drill scheduler status`)."""

    __tablename__ = "scheduler_instance"
    __table_args__ = {"info": {"chain": False}}  # a heartbeat, not evidence

    id: str = Field(primary_key=True)
    host: str
    pid: int
    started_at: datetime = _ts(nullable=False)
    heartbeat_at: datetime = _ts(nullable=False)
    stopped_at: datetime | None = _ts()
    state: str = "running"  # running | stopping | stopped
    fires: int = 0
    health_url: str | None = None


# APScheduler 3.x SQLAlchemyJobStore's table, declared so migrations own it.
apscheduler_jobs = sa.Table(
    APSCHEDULER_TABLE,
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
    info={"chain": False},  # APScheduler's working state, rewritten on every fire
)
