"""The schedule's evidence tables, as records: schedules, their run options, fires, game days.

Declared like the run's evidence (:mod:`orchestrator.evidence.records`) and written the
same way — :class:`~orchestrator.evidence.writer.EvidenceDB`, each change a journal
event. Standard library only.

Why a fire table: APScheduler 3.x is not built for several schedulers sharing one
job store — each may pick the same due job. Every fire therefore first *claims*
``(schedule_id, scheduled_at)`` in :class:`ScheduleFire`, whose unique constraint
``uq_schedule_fire_once`` (migration 0003) lets exactly one scheduler win, on SQLite and
PostgreSQL alike. The same rows are the audit trail of what was run, skipped (blackout,
busy environment) or missed.

A fire row is evidence of its *schedule* and links to the run it started as
``launched_run_id`` (not ``run_id``): it is completed after that run has ended,
which the writer refuses for a run's own records.

Schedules are never deleted, only marked ``removed_at``: an auditor can still see
what was scheduled when. Webhook URLs can carry tokens, so the game day row keeps
them redacted; the usable URLs live in ``notify_endpoint``
(:mod:`orchestrator.schedule.models`), which is configuration, not evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from orchestrator.evidence.records import Record

#: APScheduler's job store (declared in :mod:`orchestrator.schedule.models`): operational.
APSCHEDULER_TABLE = "apscheduler_jobs"


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
    # its run was aborted (the service stopping, `drill abort`) or, the service stopping,
    # not started: not a failure of the drill, so no finding (an empty period still is one)
    INTERRUPTED = "interrupted"


class GameDayStatus(StrEnum):
    PLANNED = "planned"
    ANNOUNCED = "announced"
    RUNNING = "running"
    COMPLETED = "completed"  # every drill succeeded
    FAILED = "failed"
    SKIPPED = "skipped"  # fell in a blackout window
    INTERRUPTED = "interrupted"  # a run aborted: the drills after it were not started
    CANCELLED = "cancelled"  # its run schedule was removed before it ran


@dataclass(kw_only=True, eq=False)
class Schedule(Record):
    table: ClassVar[str] = "schedule"
    autoincrement: ClassVar[bool] = False

    id: str
    target: str  # drill/runbook/experiment id, or game day id
    env: str
    action: str = ScheduleAction.RUN
    kind: str  # ScheduleKind
    expr: str  # cron expression, interval seconds, or ISO instant
    timezone: str = "UTC"
    start_at: datetime  # interval anchor: fires at start + k·every
    approved_by: str | None = None  # --yes on a protected env
    source: str = ScheduleSource.CLI
    created_by: str
    created_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None


@dataclass(kw_only=True, eq=False)
class ScheduleRunArgs(Record):
    """Extra `drill run` options of a schedule's every fire: an experiment's --var and
    --var-file (absolute paths). A table of its own (migration 0006): schedules journaled
    before it existed keep their exact rows."""

    table: ClassVar[str] = "schedule_run_args"
    pk: ClassVar[str] = "schedule_id"
    autoincrement: ClassVar[bool] = False

    schedule_id: str
    run_args: list[str] = field(default_factory=list)


@dataclass(kw_only=True, eq=False)
class ScheduleFire(Record):
    table: ClassVar[str] = "schedule_fire"

    id: int | None = None
    schedule_id: str
    target: str
    env: str
    scheduled_at: datetime
    claimed_at: datetime
    claimed_by: str  # scheduler instance id
    status: str = FireStatus.RUNNING
    reason: str | None = None
    launched_run_id: str | None = None  # the run this fire started
    exit_code: int | None = None
    ended_at: datetime | None = None
    lag_s: float | None = None  # claimed_at - scheduled_at


@dataclass(kw_only=True, eq=False)
class GameDay(Record):
    table: ClassVar[str] = "gameday"
    autoincrement: ClassVar[bool] = False

    id: str
    title: str
    scheduled_for: datetime
    timezone: str = "UTC"
    env: str
    drills: list[str] = field(default_factory=list)
    participants: list[str] = field(default_factory=list)
    notify: list[str] | None = None  # redacted, for display only
    announce_before_s: float = 86400.0
    status: str = GameDayStatus.PLANNED
    approved_by: str | None = None
    runbooks: list[dict[str, Any]] | None = None
    runbooks_dir: str | None = None
    run_ids: list[str] | None = None
    summary: dict[str, Any] | None = None
    announced_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    created_by: str
    created_at: datetime


SCHEDULE_RECORD_TYPES: tuple[type[Record], ...] = (Schedule, ScheduleRunArgs, ScheduleFire, GameDay)
