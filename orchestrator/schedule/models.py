"""The scheduler's operational tables: ORM (SQLModel), not evidence, not journaled.

Heartbeats (:class:`SchedulerInstance`), webhook URLs (:class:`NotifyEndpoint`: they can
carry tokens, so exports must leave them out; the game day's evidence row keeps them
redacted) and APScheduler's job table are working state, rewritten as the scheduler
runs. The schedule's *evidence* (schedules, fires, game days) is declared in
:mod:`orchestrator.schedule.records` and written through the journal.

The job table ``apscheduler_jobs`` (the columns of APScheduler's SQLAlchemy job store;
drill's own store, :class:`orchestrator.schedule.aps.ScheduleJobStore`, keeps JSON in
``job_state``: :mod:`orchestrator.schedule.jobrows`) is declared here so the Alembic
revision creates it — two schedulers starting at once would otherwise race on
``CREATE TABLE`` — and so autogenerate never proposes to drop it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from orchestrator.schedule.records import APSCHEDULER_TABLE


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC (as the evidence tables do), hand back aware UTC."""

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


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable))


class NotifyEndpoint(SQLModel, table=True):
    """Webhook URLs of a game day (configuration, not evidence: never exported)."""

    __tablename__ = "notify_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(index=True, description="game day id")
    url: str


#: an instance silent this long is gone (it beats every 15 s): `drill scheduler status`,
#: /metrics and the lost-fire sweep all judge by it
GONE_AFTER = timedelta(seconds=60)


def firing(state: str, heartbeat_at: datetime, now: datetime) -> bool:
    """Whether an instance is up and firing: beating, neither stopped nor stalled."""
    return state not in ("stopped", "stalled") and now - heartbeat_at < GONE_AFTER


class SchedulerInstance(SQLModel, table=True):
    """One `drill scheduler run` process, with its heartbeat (`drill scheduler status`)."""

    __tablename__ = "scheduler_instance"

    id: str = Field(primary_key=True)
    host: str
    pid: int
    started_at: datetime = _ts(nullable=False)
    heartbeat_at: datetime = _ts(nullable=False)
    stopped_at: datetime | None = _ts()
    state: str = "running"  # running | stalled | stopping | stopped
    fires: int = 0
    health_url: str | None = None


# the scheduler's job table (APScheduler 3.x SQLAlchemyJobStore's columns), declared so
# migrations own it; ``job_state`` holds a job of drill's as JSON, never a pickle
apscheduler_jobs = sa.Table(
    APSCHEDULER_TABLE,
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)
