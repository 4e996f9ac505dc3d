"""Operator acknowledgement of manual steps (`drill ack RUN_ID`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from orchestrator.engine.signals import AbortSignal
from orchestrator.errors import NotFoundError, UsageError, shown
from orchestrator.evidence.enums import RunStatus, utcnow
from orchestrator.evidence.records import Run, TimelineEvent
from orchestrator.evidence.writer import EvidenceDB

ACK_EVENT = "manual.ack"


def running_run(db: EvidenceDB, run_id: str, what: str) -> Run:
    """The run ``run_id`` if it is still running; a clear error otherwise.

    ``what`` says what the caller wanted to do to it (for the error message)."""
    run: Run | None = db.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {shown(run_id)}", "`drill runs list` shows run ids")
    if run.status != RunStatus.RUNNING:
        raise UsageError(f"run {run_id} has already ended ({run.status}); nothing to {what}")
    return run


def acknowledge(db: EvidenceDB, run_id: str, who: str, note: str | None = None) -> None:
    running_run(db, run_id, "acknowledge")
    db.write(
        TimelineEvent(
            run_id=run_id,
            at=utcnow(),
            kind=ACK_EVENT,
            message=f"acknowledged by {who}" + (f": {note}" if note else ""),
            data={"by": who},
        )
    )


#: how often a wait for `drill ack` looks for one
ACK_POLL_S = 0.25


def acked_since(db: EvidenceDB, run_id: str, since: datetime) -> str | None:
    """Who acknowledged run ``run_id`` at ``since`` or later, or None."""
    acks: list[TimelineEvent] = db.records(
        TimelineEvent, "run_id = ? AND kind = ?", (run_id, ACK_EVENT), "at, id"
    )
    for ev in acks:
        if ev.at >= since:
            return str((ev.data or {}).get("by", "operator"))
    return None


def wait_for_ack(
    db: EvidenceDB, run_id: str, timeout_s: float, abort_reason: Callable[[], str | None]
) -> str | None:
    """Block until an ack newer than now is recorded; return who acked, or None."""
    since = utcnow()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reason = abort_reason()
        if reason:
            raise AbortSignal(reason)
        by = acked_since(db, run_id, since)
        if by is not None:
            return by
        time.sleep(ACK_POLL_S)
    return None
