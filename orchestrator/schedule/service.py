"""`drill scheduler run`: the long-running service.

APScheduler 3.x (BackgroundScheduler) with drill's job store in the evidence database
(:mod:`.aps`: jobs as plain JSON, on APScheduler's public API only). The ``schedule``
table is the truth; every ``poll_s`` the service reconciles jobs from it, beats its
heartbeat, wakes APScheduler (a sibling may have added jobs) and, every
``compliance_every_s``, records missed periods as findings and notifies them.

Several services may share one (PostgreSQL) evidence database: each fire is claimed
in ``schedule_fire`` first, so exactly one of them runs it (:mod:`.fire`).

Misfires: a job is added with its first run at the latest fire due since the
schedule's last recorded fire (or its creation), so fires that fell while no scheduler
was running are seen, coalesced into that one — found by halving, not by stepping
through the schedule's history; it runs if within ``misfire_grace_s``, else it is
recorded missed (fire row ``missed`` + finding).

Liveness: APScheduler 3.x's loop runs in a thread that dies silently on an exception
its code does not catch (a trigger that raises, say), and the process goes on looking
healthy while nothing fires. Each poll wakes the loop; a wakeup it has not answered
(:attr:`ScheduleJobStore.passes`) for ``stall_after_s``, or a poll loop of the service's
own that stopped, makes the service ``stalled``: ``/health`` answers 503, `drill
scheduler status` says so, the log has an error line, and the service lets its drills
in flight finish and exits 1, for its supervisor to restart it.

Stopping (SIGTERM/SIGINT): no new fires; with ``on_stop="rollback"`` running
drills get SIGTERM and play their rollbacks, with ``"finish"`` they run to the end.
Either way the service waits for them: a drill is never abandoned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets as _secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from orchestrator.config import Settings
from orchestrator.errors import DrillError, first_line
from orchestrator.evidence.enums import utcnow
from orchestrator.evidence.records import Run
from orchestrator.evidence.store import EvidenceStore
from orchestrator.notify.webhook import BackgroundNotifier, Notifier, WebhookNotifier
from orchestrator.schedule import schedules, specs
from orchestrator.schedule.blackout import WindowsWatch, load_windows
from orchestrator.schedule.fire import FireContext, fire, record_missed
from orchestrator.schedule.jobrows import job_name
from orchestrator.schedule.launcher import ChildLauncher, Launcher
from orchestrator.schedule.models import GONE_AFTER, SchedulerInstance
from orchestrator.schedule.records import FireStatus, Schedule, ScheduleFire, ScheduleKind
from orchestrator.secrets import redact_text

log = logging.getLogger("drill.scheduler")

#: the longest silence between heartbeats (an instance silent for GONE_AFTER is gone)
HEARTBEAT_S = 15.0
#: APScheduler takes a job's misfire grace in whole seconds, and refuses 0
MIN_MISFIRE_GRACE_S = 1.0


def new_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{_secrets.token_hex(2)}"


class SchedulerService:
    def __init__(
        self,
        settings: Settings,
        store: EvidenceStore,
        *,
        launcher: Launcher | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = utcnow,
        poll_s: float = 2.0,
        misfire_grace_s: float = 300.0,
        compliance_every_s: float = 60.0,
        max_workers: int = 16,
        on_stop: str = "rollback",
        instance_id: str | None = None,
    ) -> None:
        if misfire_grace_s < MIN_MISFIRE_GRACE_S:
            # every job loaded would be refused by Job(): removed from the shared store
            raise ValueError(f"misfire grace {misfire_grace_s:g} s is under 1 s")
        self.settings, self.store = settings, store
        self.ctx = FireContext(
            settings,
            store,
            instance_id or new_instance_id(),
            launcher or ChildLauncher(settings),
            # a dead or slow webhook must not hold a fire: posted beside it, in order
            notifier or BackgroundNotifier(WebhookNotifier(settings.notify)),
            load_windows(settings),
            clock,
        )
        # the service runs for months: a restart or failover of its database is routine
        self.ctx.db.reconnect = True
        self.poll_s, self.misfire_grace_s = poll_s, misfire_grace_s
        self.compliance_every_s, self.max_workers = compliance_every_s, max_workers
        self.on_stop = on_stop
        self.stall_after_s = max(30.0, 5 * poll_s)
        self.heartbeat_s = HEARTBEAT_S
        self.fires = 0
        self.health_url: str | None = None
        self.state = "starting"
        self._last_compliance: datetime | None = None
        self._windows = WindowsWatch(settings.source)
        self._scheduler: Any = None
        self._executor: Any = None
        self._jobstore: Any = None
        self._ticked_at: datetime | None = None
        self._unanswered: tuple[int, datetime] | None = None  # (loop passes, woken at)
        self._loop_lost = False  # given up on: its thread may hang, never joined
        self._lock = threading.Lock()
        self._unbuildable_ids: set[str] = set()

    @property
    def instance_id(self) -> str:
        return self.ctx.instance_id

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES
        from apscheduler.schedulers.background import BackgroundScheduler

        from orchestrator.schedule.aps import FireExecutor, ScheduleJobStore

        options: dict[str, Any] = {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(self.misfire_grace_s),
        }
        self._executor = FireExecutor(self._fire, self._missed, self.max_workers)
        self._jobstore = ScheduleJobStore(self.store.engine, **options)
        self._scheduler = BackgroundScheduler(
            jobstores={"default": self._jobstore},
            executors={"default": self._executor},
            job_defaults=options,
            timezone=UTC,
        )
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        now = self.ctx.clock()
        self.store.add(
            SchedulerInstance(
                id=self.instance_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
                heartbeat_at=now,
                health_url=self.health_url,
            )
        )
        self._mark_lost_fires(now)
        self._scheduler.start(paused=True)
        self.sync()
        self._scheduler.resume()
        self.state = "running"
        self._ticked_at = now
        log.info(
            "scheduler %s started (%d schedules)", self.instance_id, len(self._scheduler.get_jobs())
        )

    def tick(self) -> None:
        """One poll: reconcile jobs, heartbeat, compliance, wake APScheduler."""
        was_stalled = self.stalled_since() is not None
        self._ticked_at = self.ctx.clock()
        try:
            self.reload_windows()
            self.sync()
            self._heartbeat()
            self._mark_lost_fires(self._ticked_at)
            self._compliance()
        except Exception as exc:  # a flaky database must not stop the service
            log.error("scheduler tick failed: %s", redact_text(f"{type(exc).__name__}: {exc}"))
        if self._scheduler is not None:
            self._wake()
        if not was_stalled and self.stalled_since() is not None:
            log.error(
                "scheduler loop stalled: it has not looked for due jobs for %.0f s; "
                "nothing fires until the service is restarted",
                self.stall_after_s,
            )

    def _wake(self) -> None:
        """Wake APScheduler's loop, noting the first wakeup it has not answered yet."""
        passes = self._jobstore.passes
        if self._unanswered is not None and passes > self._unanswered[0]:
            self._unanswered = None
        if self._unanswered is None:
            self._unanswered = (passes, self.ctx.clock())
        self._scheduler.wakeup()

    def stalled_since(self) -> datetime | None:
        """When the service stopped working while it says it runs: APScheduler's loop has
        not answered a wakeup, or the service's own poll has not come round, for
        ``stall_after_s``. ``None`` while it works (or is not running)."""
        if self.state != "running" or self._ticked_at is None:
            return None
        now, limit = self.ctx.clock(), timedelta(seconds=self.stall_after_s)
        if now - self._ticked_at > limit:
            return self._ticked_at
        woke = self._unanswered
        if woke is not None and self._jobstore.passes <= woke[0] and now - woke[1] > limit:
            return woke[1]
        return None

    def run(self, stop: threading.Event) -> None:
        """Tick every ``poll_s``; between ticks, beat the heartbeat every ``heartbeat_s``
        at least: `drill scheduler status` takes an instance silent for a minute for
        dead, and ``--poll`` may be longer than that."""
        self.start()
        next_tick, next_beat = time.monotonic() + self.poll_s, time.monotonic() + self.heartbeat_s
        try:
            while not stop.wait(max(0.0, min(next_tick, next_beat) - time.monotonic())):
                now = time.monotonic()
                if now >= next_tick:
                    self.tick()  # beats too
                    next_tick = time.monotonic() + self.poll_s
                    if self.stalled_since() is not None:
                        self._give_up()
                elif now >= next_beat:
                    self._beat()
                else:
                    continue  # woken a hair early
                next_beat = time.monotonic() + self.heartbeat_s
        finally:
            self.stop()

    def _give_up(self) -> None:
        """Stalled: nothing new will fire, and only a restart mends it. Drills in flight
        are fine (their fires run in other threads): they finish, then the service
        exits 1 — a supervisor restarts it on exit (Docker's healthcheck alone does not)."""
        self.on_stop, self._loop_lost = "finish", True
        log.error("stopping: drills in flight finish first, then a restart is needed")
        raise DrillError(
            "the scheduler loop stalled: nothing would fire any more",
            "restart `drill scheduler run` (under a supervisor that happens by itself); "
            "the log above says since when",
        )

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every fire in flight is over — including its finding and
        notifications, which follow the fire row's ``ended_at``; until then the job's
        ``max_instances`` slot is taken and a next fire of it would be skipped.
        ``False`` if ``timeout`` passed first."""
        return self._executor is None or bool(self._executor.wait_idle(timeout))

    def stop(self) -> None:
        if self._scheduler is None or self.state == "stopped":
            return
        self.state = "stopping"
        self._beat()
        self._scheduler.pause()
        self.ctx.launcher.close()
        if self.on_stop == "rollback":
            n = self.ctx.launcher.signal_all(signal.SIGTERM)
            if n:
                log.info("asked %d running drill(s) to stop and roll back", n)
        while not self.wait_idle(self.heartbeat_s):  # a rollback can take a while: alive
            self._beat()
        self._jobstore.close()  # what comes due from now on is the next start's
        if not self._loop_lost:  # a hung loop thread would be waited for for ever
            self._scheduler.shutdown(wait=True)  # every fire (and its child run) is over
        self.state = "stopped"
        with self.store.session() as s:
            row = s.get(SchedulerInstance, self.instance_id)
            if row is not None:
                row.state, row.stopped_at, row.fires = "stopped", self.ctx.clock(), self.fires
                row.heartbeat_at = self.ctx.clock()
                s.add(row)
        log.info("scheduler %s stopped after %d fire(s)", self.instance_id, self.fires)
        if isinstance(self.ctx.notifier, BackgroundNotifier):
            # the last fires' notices go out before the exit (10 s at most), once the
            # instance is recorded stopped: a supervisor's grace (Docker's 10 s) may end first
            self.ctx.notifier.close()

    # ---- jobs ------------------------------------------------------------------------
    def sync(self) -> None:
        """Make APScheduler's jobs match the active schedules.

        Schedules are immutable (a change is remove + add, with a new id), so comparing
        ids is enough — read straight from the job table, without unpickling every job
        under APScheduler's job-store lock (which would stall due fires)."""
        from orchestrator.schedule.aps import FIRE_REF, ScheduleTrigger

        db = self.ctx.db
        rows = schedules.active(db)
        once = [r.id for r in rows if r.kind == ScheduleKind.DATE]
        fired = (
            {
                r[0]
                for r in db.query(
                    f"SELECT schedule_id FROM schedule_fire WHERE schedule_id IN "
                    f"({', '.join('?' * len(once))})",
                    once,
                )
            }
            if once
            else set()
        )
        jobs = set(schedules.stored_next_runs(db, include_paused=True))
        for row in rows:
            if row.id in jobs:
                jobs.discard(row.id)
                continue
            if row.kind == ScheduleKind.DATE and row.id in fired:
                continue  # a one-shot that already fired
            try:
                trigger = ScheduleTrigger(row.kind, row.expr, row.timezone, row.start_at)
            except Exception as exc:  # one schedule's row must not hold every other's job
                self._unbuildable(row, exc)
                continue
            first = self._first_run(trigger, row)
            if first is None:
                continue
            self._scheduler.add_job(
                FIRE_REF,
                trigger=trigger,
                id=row.id,
                name=job_name(row.action, row.target, row.env),
                kwargs={"schedule_id": row.id},
                replace_existing=True,
                next_run_time=first,
            )
        for stale in jobs:
            with contextlib.suppress(Exception):  # another scheduler removed it first
                self._scheduler.remove_job(stale)

    def _unbuildable(self, row: Schedule, exc: Exception) -> None:
        """A schedule row no trigger of this drill can be built of — written by another
        scheduler of the group (a newer drill, a time zone this host's tzdata lacks): said
        once per service, and left out; the other schedules go on."""
        if row.id in self._unbuildable_ids:
            return
        self._unbuildable_ids.add(row.id)
        log.error(
            "schedule %s (%s) cannot be scheduled by this drill: %s; the other schedules go on",
            row.id,
            job_name(row.action, row.target, row.env),
            redact_text(exc.message if isinstance(exc, DrillError) else first_line(exc)),
        )

    def _first_run(self, trigger: Any, row: Schedule) -> datetime | None:
        """The first run time of a schedule's job being added (again): the latest fire due
        since the schedule's last recorded fire (or its creation), which APScheduler then
        runs — or records missed, past the misfire grace — as the one fire standing for all
        those it coalesces; else its next fire. Not its first fire since its creation:
        APScheduler steps through a job's run times one by one, under its job-store lock,
        and a year of an every-10s schedule (its job row lost or removed, or never stored
        by a scheduler) held every fire for ~19 s."""
        last: list[ScheduleFire] = self.ctx.db.records(
            ScheduleFire, "schedule_id = ?", (row.id,), order="scheduled_at DESC", limit=1
        )
        since = last[0].scheduled_at + timedelta(microseconds=1) if last else row.created_at
        first: datetime | None = trigger.get_next_fire_time(None, since)
        now = self.ctx.clock()
        if first is None or first > now:
            return first
        return specs.latest_fire(trigger, first, now)

    def reload_windows(self) -> None:
        """Blackout windows as drill.yaml says *now*: a change freeze added while the
        service runs must hold the next fire (checked on every poll and before every
        fire; a drill.yaml that no longer loads keeps the windows in force)."""
        windows = self._windows.changed()
        if windows is not None:
            self.ctx.windows = windows
            log.info("blackout windows reloaded from drill.yaml: %d", len(windows))

    def _fire(self, schedule_id: str, scheduled_at: datetime) -> str:
        try:
            self.reload_windows()
        except Exception as exc:  # never a reason not to fire: the windows in force stay
            log.error("reloading blackout windows failed: %s", redact_text(str(exc)))
        outcome = fire(self.ctx, schedule_id, scheduled_at)
        if outcome not in ("gone", "lost-claim"):
            with self._lock:
                self.fires += 1
        log.info("schedule %s fire at %s: %s", schedule_id, scheduled_at.isoformat(), outcome)
        return outcome

    def _missed(self, schedule_id: str, scheduled_at: datetime) -> None:
        """A fire later than the misfire grace (no scheduler ran it in time)."""
        try:
            record_missed(
                self.ctx,
                schedule_id,
                scheduled_at,
                "missed: no scheduler ran it within the misfire grace time",
            )
        except Exception as exc:
            log.error("recording a missed fire failed: %s", redact_text(str(exc)))

    def _on_skipped(self, event: Any) -> None:
        """APScheduler's ``EVENT_JOB_MAX_INSTANCES``: the job's previous fire still runs."""
        try:
            for at in event.scheduled_run_times:
                record_missed(
                    self.ctx,
                    event.job_id,
                    at.astimezone(UTC),
                    "previous fire of this schedule still running",
                    FireStatus.SKIPPED,
                )
        except Exception as exc:
            log.error("recording a missed fire failed: %s", redact_text(str(exc)))

    # ---- bookkeeping -------------------------------------------------------------------
    def _beat(self) -> None:
        try:
            self._heartbeat()
        except Exception as exc:  # as in tick: the next beat tries again
            log.error("heartbeat failed: %s", redact_text(f"{type(exc).__name__}: {exc}"))

    def _heartbeat(self) -> None:
        with self.store.session() as s:
            row = s.get(SchedulerInstance, self.instance_id)
            if row is not None:
                state = "stalled" if self.stalled_since() is not None else self.state
                row.heartbeat_at, row.state, row.fires = self.ctx.clock(), state, self.fires
                s.add(row)

    def _compliance(self) -> None:
        from orchestrator.notify.messages import Notice, NoticeKind
        from orchestrator.schedule.compliance import drill_status

        now = self.ctx.clock()
        if (
            self._last_compliance
            and (now - self._last_compliance).total_seconds() < self.compliance_every_s
        ):
            return
        self._last_compliance = now
        report = drill_status(self.settings, self.ctx.db, now, record=True)
        for f in report.new_findings:
            self.ctx.notify(
                Notice(
                    NoticeKind.OVERDUE,
                    f.title,
                    f.corrective_action or "",
                    {"drill": f.drill or "", "environment": f.env or "any"},
                    {"drill": f.drill, "env": f.env, "finding": f.title},
                )
            )

    def _mark_lost_fires(self, now: datetime) -> None:
        """Fires left ``running`` by a scheduler that is gone: say so instead of lying.

        On every poll, not only at start: a supervisor restarts a killed service within
        a second, when the dead one's heartbeat still looks fresh; a minute of silence
        (:data:`~orchestrator.schedule.models.GONE_AFTER`; heartbeats come every
        ``HEARTBEAT_S``) is death."""
        db = self.ctx.db
        lost: list[ScheduleFire] = db.records(
            ScheduleFire, "status = ?", [FireStatus.RUNNING.value]
        )
        if not lost:
            return
        stale = now - GONE_AFTER
        from sqlalchemy import or_

        with self.store.session() as s:
            dead = set(
                s.exec(
                    select(SchedulerInstance.id).where(
                        or_(
                            col(SchedulerInstance.state) == "stopped",
                            col(SchedulerInstance.heartbeat_at) < stale,
                        )
                    )
                )
            )
        lost = [row for row in lost if row.claimed_by in dead]
        for row in lost:
            # the child `drill run` outlives its killed service (its own session) and
            # records itself: name it, or "see the run" left the reader to guess which
            run = self._run_of(row)
            row.status, row.ended_at = FireStatus.LOST.value, now
            row.launched_run_id = row.launched_run_id or (run.id if run else None)
            row.reason = (
                f"its scheduler stopped while run {row.launched_run_id} was in flight; see the run"
                if row.launched_run_id
                else "its scheduler stopped while the run was starting; no run of it was recorded"
            )
        if lost:
            db.write(*lost)

    def _run_of(self, row: ScheduleFire) -> Run | None:
        """The run a fire launched: its schedule's first run since the fire was claimed."""
        db = self.ctx.db
        runs: list[Run] = db.records(
            Run,
            "schedule_id = ? AND started_at >= ?",
            (row.schedule_id, db.param(row.claimed_at)),
            order="started_at",
            limit=1,
        )
        return runs[0] if runs else None

    def health(self) -> dict[str, Any]:
        """What ``/health`` says. Not ``ok`` while the evidence database is unreachable
        (nothing can be claimed, fired or recorded then): ``database_unreachable`` with
        the reason, as `drill serve` answers 503 with it."""
        from orchestrator.engine.results import iso
        from orchestrator.errors import StoreUnavailable
        from orchestrator.secrets import redact_text

        stalled = self.stalled_since()
        status = "stalled" if stalled else "ok" if self.state == "running" else self.state
        reason, jobs = None, None
        try:  # both read the database: its outage made this raise (no answer at all)
            self.ctx.db.query("SELECT 1")  # (a lost connection is let go: the next asks anew)
            jobs = self._scheduler.get_jobs() if self._scheduler is not None else []
        except Exception as exc:  # StoreUnavailable, or the job store's driver error
            status = "database_unreachable"
            reason = (
                exc.message
                if isinstance(exc, StoreUnavailable)
                else redact_text(
                    f"evidence database unreachable: {exc.__class__.__name__}: "
                    + (str(exc).strip().splitlines() or [""])[0]
                )
            )
        nxt = min((j.next_run_time for j in jobs or [] if j.next_run_time), default=None)
        running = getattr(self.ctx.launcher, "running", lambda: None)()
        return {
            "status": status,
            "reason": reason,
            "stalled_since": iso(stalled) if stalled else None,
            "instance": self.instance_id,
            "pid": os.getpid(),
            "jobs": None if jobs is None else len(jobs),
            "next_fire_at": iso(nxt.astimezone(UTC)) if nxt else None,
            "fires": self.fires,
            "running_drills": running,
        }
