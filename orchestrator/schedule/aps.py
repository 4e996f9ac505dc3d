"""The two APScheduler 3.x pieces drill adapts: job store and executor.

* :class:`SharedJobStore` — APScheduler's SQLAlchemyJobStore in the evidence
  database, tolerant of a sibling scheduler having already updated or removed a job
  (stock 3.x raises ``JobLookupError`` from its main loop, which would kill the
  scheduler thread of an HA group). Closed (:meth:`SharedJobStore.close`), it hands out
  no due job: what comes due while the service stops stays due for the next start.
* :class:`FireExecutor` — a ``BaseExecutor`` that calls
  :func:`orchestrator.schedule.fire.fire` with the *scheduled* fire time (the
  exactly-once claim is keyed on it), reports a fire later than the job's misfire grace
  as missed, and holds the job's one slot until the fire is over (finding,
  notifications); :meth:`FireExecutor.wait_idle` waits until every fire is. On
  ``BaseExecutor``'s public ``submit_job``, not APScheduler's private helpers.

This module imports APScheduler at import time; only the service imports it.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor, MaxInstancesReachedError
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

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
        self.closed = False

    def close(self) -> None:
        """Hand out no due job any more. APScheduler's loop takes up the due jobs once
        more as the scheduler shuts down (its only guard is a pause), after its executor
        was shut: a fire that came due while a stop waited for a drill in flight went to
        the closed pool ('Error submitting job … cannot schedule new futures after
        shutdown') and the job moved on to its next time, so that fire was never run
        nor recorded. Left due here, the next start runs it (or records it missed)."""
        self.closed = True

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
        if self.closed:
            return []
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
        if self.closed:
            return None
        try:
            found: datetime | None = super().get_next_run_time()
        except Exception as exc:
            _database_failed("reading the next run time", exc)
            return None  # sleep until the service's next poll wakes the scheduler
        return found


def _database_failed(what: str, exc: Exception) -> None:
    from orchestrator.secrets import redact_text

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.error("job store: %s failed (retried on the next poll): %s", what, redact_text(first))


class FireExecutor(BaseExecutor):
    """Runs fires in threads: ``fire(schedule_id, scheduled_at)`` for each run time
    within the job's misfire grace, ``missed(schedule_id, scheduled_at)`` for each later
    one. A job runs ``max_instances`` fires at once at most (APScheduler's
    ``MaxInstancesReachedError`` beyond: the scheduler reports it as
    ``EVENT_JOB_MAX_INSTANCES``); a fire holds its slot until its very end."""

    def __init__(
        self,
        fire: Callable[[str, datetime], Any],
        missed: Callable[[str, datetime], Any],
        max_workers: int = 16,
    ) -> None:
        super().__init__()
        self.fire, self.missed = fire, missed
        self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="drill-fire")
        self.running: dict[str, int] = {}  # job id -> its fires in flight
        self.settled = threading.Condition()

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        with self.settled:
            if self.running.get(job.id, 0) >= job.max_instances:
                raise MaxInstancesReachedError(job)
            self.running[job.id] = self.running.get(job.id, 0) + 1
        try:
            self.pool.submit(
                self._run, job.id, job.kwargs["schedule_id"], job.misfire_grace_time, run_times
            )
        except BaseException:
            self._settle(job.id)
            raise

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        """``BaseExecutor``'s one abstract method, which its ``submit_job`` calls; drill's
        :meth:`submit_job` (what the scheduler calls) does the work itself."""
        raise NotImplementedError("FireExecutor.submit_job submits fires")

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait)

    def _run(
        self, job_id: str, schedule_id: str, grace: int | None, run_times: list[datetime]
    ) -> None:
        try:
            for run_time in list(run_times):
                at = run_time.astimezone(UTC)
                try:
                    if grace is not None and datetime.now(UTC) - at > timedelta(seconds=grace):
                        self.missed(schedule_id, at)
                    else:
                        self.fire(schedule_id, at)
                except Exception:
                    log.exception("fire of %s at %s failed", schedule_id, at.isoformat())
        finally:
            self._settle(job_id)

    def _settle(self, job_id: str) -> None:
        with self.settled:
            left = self.running.pop(job_id, 1) - 1
            if left:
                self.running[job_id] = left
            self.settled.notify_all()

    @property
    def in_flight(self) -> int:
        with self.settled:
            return sum(self.running.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no fire is in flight; ``False`` if ``timeout`` passed first."""
        with self.settled:
            return self.settled.wait_for(lambda: not self.running, timeout)
