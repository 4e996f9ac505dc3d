"""What happens when a schedule fires.

1. **Claim** ``(schedule_id, scheduled_at)`` in ``schedule_fire``; the unique
   constraint lets exactly one scheduler of an HA group win. Losers do nothing.
2. **Blackout**: a fire scheduled inside a change freeze is recorded as skipped (fire
   row, log line, `drill schedule list`'s last fire) — no finding: the freeze is
   intended, and a finding per fire of a frequent schedule would bury the real ones. A
   period that ends without a success still becomes its one ``drill_overdue`` finding
   (:mod:`.compliance`). One notification says the freeze holds the schedule, on its
   first skipped fire, not on every one.
3. **Run** the target through the launcher (a ``drill run`` child), record its run
   id and outcome on the fire row, notify start / finish / objective missed, and turn
   a failed, skipped or missed scheduled run into a finding. A run *aborted* (exit 3:
   the service stopping, `drill abort`) is an ``interrupted`` fire, not a failure of
   the drill: no finding — its rollbacks ran, and a period left without a success is
   still its ``drill_overdue`` finding.

Everything a fire needs comes in a :class:`FireContext` built by the service, so
tests can drive fires with a controlled clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.config import Settings
from orchestrator.errors import ExitStatus
from orchestrator.evidence.enums import FindingStatus, utcnow
from orchestrator.evidence.records import Finding
from orchestrator.notify.messages import NoticeKind, run_notice
from orchestrator.notify.webhook import Notifier
from orchestrator.schedule.blackout import Window, active_window
from orchestrator.schedule.launcher import Launcher, RunRequest, RunResult
from orchestrator.schedule.records import FireStatus, Schedule, ScheduleAction, ScheduleFire
from orchestrator.secrets import redact_text

if TYPE_CHECKING:
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.evidence.writer import EvidenceDB
    from orchestrator.notify.messages import Notice

log = logging.getLogger("drill.scheduler")


@dataclass
class FireContext:
    settings: Settings
    store: EvidenceStore
    instance_id: str
    launcher: Launcher
    notifier: Notifier
    windows: list[Window] = field(default_factory=list)
    clock: Callable[[], datetime] = utcnow

    @property
    def db(self) -> EvidenceDB:
        """Where the fire's evidence goes (schedules, fires, findings, game days)."""
        return self.store.db

    def notify(self, notice: Notice, extra_urls: list[str] | None = None) -> None:
        try:
            self.notifier.send(notice, extra_urls or [])
        except Exception as exc:  # a notification must never break a fire
            log.error("notification failed: %s", redact_text(str(exc)))


def claim(
    ctx: FireContext,
    sched: Schedule,
    scheduled_at: datetime,
    status: FireStatus = FireStatus.RUNNING,
    reason: str | None = None,
) -> ScheduleFire | None:
    """Insert the fire row; ``None`` when another scheduler already claimed it."""
    now = ctx.clock()
    row = ScheduleFire(
        schedule_id=sched.id,
        target=sched.target,
        env=sched.env,
        scheduled_at=scheduled_at,
        claimed_at=now,
        claimed_by=ctx.instance_id,
        status=status.value,
        reason=reason,
        lag_s=(now - scheduled_at).total_seconds(),
        ended_at=None if status is FireStatus.RUNNING else now,
    )
    try:
        ctx.db.write(row)
    except ctx.db.IntegrityError:
        log.info(
            "fire %s@%s already claimed by another scheduler", sched.id, scheduled_at.isoformat()
        )
        return None
    return row


def finding(
    ctx: FireContext,
    kind: str,
    title: str,
    detail: str,
    action: str,
    target: str,
    env: str,
    run_id: str | None = None,
    severity: str = "medium",
    once: bool = False,
) -> bool:
    """File a finding; with ``once``, not while the same one (kind, title, env) is open —
    a cause that repeats fire after fire is one thing to fix. ``False`` if not filed."""
    row = Finding(
        run_id=run_id,
        kind=kind,
        severity=severity,
        title=title,
        detail=redact_text(detail),
        corrective_action=action,
        created_at=ctx.clock(),
        drill=target,
        env=env,
    )
    open_one = (
        "SELECT 1 FROM finding WHERE kind = ? AND title = ? AND env = ? AND status = ?",
        (kind, title, env, FindingStatus.OPEN.value),
    )
    return ctx.db.write(row, unless=open_one if once else None)


def load_schedule(db: EvidenceDB, schedule_id: str) -> Schedule | None:
    row: Schedule | None = db.get(Schedule, schedule_id)
    return row if row is not None and row.removed_at is None else None


def fire(ctx: FireContext, schedule_id: str, scheduled_at: datetime) -> str:
    """Handle one fire; returns its outcome (for logs and tests)."""
    sched = load_schedule(ctx.db, schedule_id)
    if sched is None:
        return "gone"
    row = claim(ctx, sched, scheduled_at)
    if row is None:
        return "lost-claim"
    window = active_window(ctx.windows, scheduled_at)
    if window is not None and sched.action != ScheduleAction.GAMEDAY_ANNOUNCE:
        held_by_freeze(ctx, sched, row, f"blackout window {window.name!r}")
        if sched.action == ScheduleAction.GAMEDAY_RUN:
            from orchestrator.schedule import gameday

            gameday.mark_skipped(ctx, sched.target, f"blackout window {window.name!r}")
        return FireStatus.SKIPPED.value
    if sched.action == ScheduleAction.RUN:
        return run_scheduled(ctx, sched, row).value
    from orchestrator.schedule import gameday

    if sched.action == ScheduleAction.GAMEDAY_ANNOUNCE:
        gameday.announce(ctx, sched.target)
        status = FireStatus.SUCCEEDED
    else:
        status = gameday.run_gameday(ctx, sched.target, schedule_id=sched.id)
    finish(ctx, row, status)
    return status.value


def finish(
    ctx: FireContext,
    row: ScheduleFire,
    status: FireStatus,
    reason: str | None = None,
    result: RunResult | None = None,
) -> None:
    row.status, row.reason, row.ended_at = status.value, reason, ctx.clock()
    if result is not None:
        row.launched_run_id, row.exit_code = result.run_id, result.exit_code
    ctx.db.write(row)


def skip(
    ctx: FireContext,
    sched: Schedule,
    row: ScheduleFire,
    reason: str,
    status: FireStatus = FireStatus.SKIPPED,
    result: RunResult | None = None,
) -> None:
    finish(ctx, row, status, reason, result)
    when = row.scheduled_at.isoformat()
    log.info("schedule %s fire at %s skipped: %s", sched.id, when, reason)
    filed = finding(
        ctx,
        "scheduled_run_skipped",
        f"{sched.target}: scheduled run skipped ({reason})",
        f"schedule {sched.id} fire at {when} on {sched.env} did not run: {reason}",
        "run it by hand if the period needs it; make the fires fit (a less frequent "
        "schedule, a free environment, a scheduler kept running), then close this finding",
        sched.target,
        sched.env,
        once=True,  # the next skips of an open one are in the schedule's fire rows
    )
    if filed:
        ctx.notify(
            run_notice(
                NoticeKind.SKIPPED,
                sched.target,
                sched.env,
                detail=f"fire at {when} skipped: {reason}",
            )
        )


def held_by_freeze(ctx: FireContext, sched: Schedule, row: ScheduleFire, reason: str) -> None:
    """Record a fire skipped by a blackout window: the fire row says so, no finding."""
    previous: list[ScheduleFire] = ctx.db.records(
        ScheduleFire,
        "schedule_id = ? AND scheduled_at < ?",
        (sched.id, ctx.db.param(row.scheduled_at)),
        order="scheduled_at DESC",
        limit=1,
    )
    finish(ctx, row, FireStatus.SKIPPED, reason)
    when = row.scheduled_at.isoformat()
    log.info("schedule %s fire at %s skipped: %s", sched.id, when, reason)
    if previous and (previous[0].status, previous[0].reason) == (FireStatus.SKIPPED, reason):
        return  # this freeze already held the schedule, and said so
    ctx.notify(
        run_notice(
            NoticeKind.SKIPPED,
            sched.target,
            sched.env,
            detail=f"fire at {when} skipped, and the next ones until it ends: {reason}",
        )
    )


def record_missed(
    ctx: FireContext,
    schedule_id: str,
    scheduled_at: datetime,
    reason: str,
    status: FireStatus = FireStatus.MISSED,
) -> bool:
    """A fire APScheduler did not run (misfire, previous still running): record it once."""
    sched = load_schedule(ctx.db, schedule_id)
    if sched is None:
        return False
    row = claim(ctx, sched, scheduled_at, status, reason)
    if row is None:
        return False
    skip(ctx, sched, row, reason, status)
    return True


def run_scheduled(ctx: FireContext, sched: Schedule, row: ScheduleFire) -> FireStatus:
    from orchestrator.schedule.schedules import run_args_of

    ctx.notify(
        run_notice(
            NoticeKind.RUN_START,
            sched.target,
            sched.env,
            detail=f"scheduled ({sched.id}) for {row.scheduled_at.isoformat()}",
        )
    )
    req = RunRequest(
        sched.target,
        sched.env,
        "schedule",
        schedule_id=sched.id,
        yes=bool(sched.approved_by),
        run_args=tuple(run_args_of(ctx.db, [sched.id]).get(sched.id, ())),
    )
    result = ctx.launcher.run(req)
    if result.exit_code == ExitStatus.OK:
        finish(ctx, row, FireStatus.SUCCEEDED, result=result)
        status = FireStatus.SUCCEEDED
    elif result.run_id is None and "already in use" in (result.error or ""):
        skip(ctx, sched, row, "environment busy: another run holds its lock", result=result)
        return FireStatus.SKIPPED
    elif result.exit_code == ExitStatus.ABORTED:
        why = (result.doc or {}).get("error") or result.error or "aborted"
        reason = f"run aborted: {why}" if result.run_id else str(why)
        finish(ctx, row, FireStatus.INTERRUPTED, reason, result)
        status = FireStatus.INTERRUPTED
        log.info("schedule %s fire interrupted: %s", sched.id, reason)
    else:
        reason = result.error or f"run {result.status or 'failed'} (exit {result.exit_code})"
        finish(ctx, row, FireStatus.FAILED, reason, result)
        status = FireStatus.FAILED
        finding(
            ctx,
            "scheduled_run_failed",
            f"{sched.target}: scheduled run failed",
            f"schedule {sched.id} fire at {row.scheduled_at.isoformat()} on {sched.env}: {reason}",
            "look at `drill runs show RUN_ID`, fix the cause, re-run",
            sched.target,
            sched.env,
            result.run_id,
        )
    ctx.notify(
        run_notice(
            NoticeKind.RUN_FINISH,
            sched.target,
            sched.env,
            run_id=result.run_id,
            status=result.status or status.value,
            detail=None if status is FireStatus.SUCCEEDED else result.error,
        )
    )
    if result.objective_missed:
        missed = [
            sc["id"] for sc in (result.doc or {}).get("scenarios", []) if sc.get("met") is False
        ]
        ctx.notify(
            run_notice(
                NoticeKind.OBJECTIVE_MISSED,
                sched.target,
                sched.env,
                run_id=result.run_id,
                status=result.status,
                detail="objective missed in: " + ", ".join(missed),
            )
        )
    return status
