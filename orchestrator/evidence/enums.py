"""Evidence vocabulary (statuses, phases, triggers) and the clock — standard library only.

Used by the evidence records (:mod:`orchestrator.evidence.records`) and every module that
reads or writes them, so they all speak the same values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


def utcnow() -> datetime:
    return datetime.now(UTC)


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every step ran and every objective was met
    FAILED = "failed"  # a step failed or an objective was missed
    ABORTED = "aborted"  # signal or `drill abort`; rollbacks ran
    CRASHED = "crashed"  # the process died; recovered by a later invocation
    ROLLBACK_FAILED = "rollback_failed"  # loud: the environment may be degraded


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"  # a pending rollback whose action never needed undoing


class StepPhase(StrEnum):
    PRECONDITION = "precondition"
    STEP = "step"
    VERIFICATION = "verification"
    ROLLBACK = "rollback"


class Trigger(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    GAMEDAY = "gameday"


class FindingStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
