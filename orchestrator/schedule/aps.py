"""The two APScheduler 3.x pieces drill adapts: job store and executor.

* :class:`SharedJobStore` — APScheduler's SQLAlchemyJobStore in the evidence
  database, tolerant of a sibling scheduler having already updated or removed a job
  (stock 3.x raises ``JobLookupError`` from its main loop, which would kill the
  scheduler thread of an HA group).
* :class:`FireExecutor` — a thread pool that calls :func:`orchestrator.schedule.fire.fire`
  with the *scheduled* fire time (stock ``run_job`` does not pass it, and the
  exactly-once claim is keyed on it). Misfires beyond the grace time are reported as
  APScheduler's usual ``EVENT_JOB_MISSED`` and recorded by the service. It counts the
  fires in flight — a fire holds its job's ``max_instances`` slot until its very end
  (finding, notifications), not just until its fire row is written — and
  :meth:`FireExecutor.wait_idle` waits until every one is over.

This module imports APScheduler at import time; only the service imports it.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from orchestrator.errors import first_line
from orchestrator.schedule.records import APSCHEDULER_TABLE

log = logging.getLogger("drill.scheduler")

#: what every job's ``func`` points at (a textual reference, so jobs pickle)
FIRE_REF = "orchestrator.schedule.aps:job_entry"


def job_entry(schedule_id: str, rev: str = "") -> None:
    """Target of persisted jobs. :class:`FireExecutor` runs the real fire instead, with
    the scheduled time; reaching this means a job ran on a stock executor."""
    raise RuntimeError(f"job {schedule_id} must run on drill's FireExecutor")


#: what a job of drill's pickles to: its trigger (APScheduler's, or drill's cron), its
#: times and zones; and ZoneInfo's own way back (``getattr(ZoneInfo, "_unpickle")``)
_JOB_MODULES = (
    "apscheduler.triggers.",
    "apscheduler.job",
    "orchestrator.schedule.crontrigger",
)
_JOB_GLOBALS = {
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
    ("zoneinfo", "ZoneInfo"),
}


class _JobUnpickler(pickle.Unpickler):
    """Loads only what a job of drill's holds. The job table lives in the evidence
    database, which schedulers on several machines share: a row pickled by anyone who
    can write to it (``os.system`` and its arguments) was unpickled, so run, by every
    `drill scheduler run` when it came due."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name == "getattr":
            return _zone_getattr
        if (module, name) in _JOB_GLOBALS or module.startswith(_JOB_MODULES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a drill job")


def _zone_getattr(obj: Any, name: str) -> Any:
    from zoneinfo import ZoneInfo

    if obj is ZoneInfo and name == "_unpickle":
        return ZoneInfo._unpickle  # type: ignore[attr-defined]
    raise pickle.UnpicklingError(f"getattr({obj!r}, {name!r}) is not part of a drill job")


class SharedJobStore(SQLAlchemyJobStore):
    """Also tolerant of the database failing under the main loop: stock 3.x guards only
    ``get_due_jobs``; an error from ``update_job``, ``remove_job`` or
    ``get_next_run_time`` (the database restarting between those calls) ended the
    scheduler thread, and the service went on beating "ok" without firing again. Now
    the loop goes on: the service's next poll wakes it, a job whose new next run could
    not be stored comes due again, and its fire is claimed once (:mod:`.fire`)."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine=engine, tablename=APSCHEDULER_TABLE)
        #: passes of the scheduler loop, which asks for due jobs first thing in each:
        #: the loop's heartbeat (APScheduler 3.x says nothing when its thread dies)
        self.passes = 0

    def _reconstitute_job(self, job_state: bytes) -> Any:
        """APScheduler's, with :class:`_JobUnpickler`: a row that does not load is
        APScheduler's "Unable to restore job": logged and removed (the service's sync
        adds the schedule's job again)."""
        from apscheduler.job import Job

        state = _JobUnpickler(io.BytesIO(job_state)).load()
        state["jobstore"] = self
        job = Job.__new__(Job)
        job.__setstate__(state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def get_due_jobs(self, now: datetime) -> list[Any]:
        self.passes += 1
        due: list[Any] = super().get_due_jobs(now)
        return due

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except JobLookupError:
            log.debug("job %s was removed by another scheduler", job.id)
        except Exception as exc:
            _database_failed(f"storing the next run of job {job.id}", exc)

    def remove_job(self, job_id: str) -> None:
        try:
            super().remove_job(job_id)
        except JobLookupError:
            log.debug("job %s was already removed by another scheduler", job_id)
        except Exception as exc:
            _database_failed(f"removing job {job_id}", exc)

    def get_next_run_time(self) -> datetime | None:
        try:
            found: datetime | None = super().get_next_run_time()
        except Exception as exc:
            _database_failed("reading the next run time", exc)
            return None  # sleep until the service's next poll wakes the scheduler
        return found


def _database_failed(what: str, exc: Exception) -> None:
    from orchestrator.secrets import redact_text

    log.error(
        "job store: %s failed (retried on the next poll): %s", what, redact_text(first_line(exc))
    )


class FireExecutor(ThreadPoolExecutor):
    """Runs fires in threads; each call gets ``fire(ctx, schedule_id, scheduled_at)``."""

    def __init__(self, fire: Callable[[str, datetime], Any], max_workers: int = 16) -> None:
        super().__init__(max_workers=max_workers)
        self._fire = fire
        self._in_flight = 0
        self._settled = threading.Condition()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def done(f: Any) -> None:
            try:
                exc = f.exception()
                if exc:
                    self._run_job_error(job.id, exc, exc.__traceback__)
                else:
                    self._run_job_success(job.id, f.result())
            finally:  # after APScheduler freed the job's instance slot
                self._settle()

        with self._settled:
            self._in_flight += 1
        try:
            future = self._pool.submit(self._run, job, job._jobstore_alias, run_times)
        except BaseException:
            self._settle()
            raise
        future.add_done_callback(done)

    def _settle(self) -> None:
        with self._settled:
            self._in_flight -= 1
            self._settled.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no fire is in flight; ``False`` if ``timeout`` passed first."""
        with self._settled:
            return self._settled.wait_for(lambda: self._in_flight == 0, timeout)

    def _run(self, job: Any, alias: str, run_times: list[datetime]) -> list[Any]:
        events: list[Any] = []
        for run_time in run_times:
            grace = job.misfire_grace_time
            late = datetime.now(UTC) - run_time
            if grace is not None and late > timedelta(seconds=grace):
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, alias, run_time))
                continue
            try:
                outcome = self._fire(job.kwargs["schedule_id"], run_time.astimezone(UTC))
            except Exception as exc:
                log.exception("fire of %s at %s failed", job.id, run_time)
                events.append(
                    JobExecutionEvent(EVENT_JOB_ERROR, job.id, alias, run_time, exception=exc)
                )
            else:
                events.append(
                    JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, alias, run_time, retval=outcome)
                )
        return events


def fire_scheduler(**options: Any) -> Any:
    """APScheduler's BackgroundScheduler, which processes no job once it is stopping.

    Stock 3.x sets STOPPED, shuts its executors, then wakes its loop to let it end — and
    the loop takes up the jobs due once more first (its only guard is PAUSED): a fire
    that came due while a stop waited for a drill in flight went to the closed pool ('Error
    submitting job … cannot schedule new futures after shutdown', a traceback per job)
    and the job moved on to its next time, so that fire was never run nor recorded.
    Left due in the store, the next start runs it (or records it missed)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    class FireScheduler(BackgroundScheduler):
        stopping = False

        def _process_jobs(self) -> float | None:
            if self.stopping:
                return None
            wait: float | None = super()._process_jobs()
            return wait

    return FireScheduler(**options)
