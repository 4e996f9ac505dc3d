"""drill's APScheduler 3.x parts, on its documented extension points only.

* :class:`ScheduleTrigger` — a schedule's trigger (APScheduler's, or drill's cron),
  which knows the spec it was built from, so that a job can be stored as plain data.
* :class:`ScheduleJobStore` — a ``BaseJobStore`` keeping each job in the evidence
  database as JSON (:mod:`.jobrows`), never a pickle: schedulers on several machines
  share that database, and APScheduler's SQLAlchemy store unpickled — ran — whatever
  anyone who can write to it put in a row. It is tolerant of a sibling scheduler having
  updated or removed a job first, and of the database failing under the scheduler's
  loop. Closed (:meth:`ScheduleJobStore.close`), it hands out no due job: what comes
  due while the service stops stays due for the next start. A job due since long ago
  is handed out at its latest fire due, which is what APScheduler coalesces its run
  times into — without stepping through them all.
* :class:`FireExecutor` — a ``BaseExecutor`` that calls
  :func:`orchestrator.schedule.fire.fire` with the *scheduled* fire time (the
  exactly-once claim is keyed on it), reports a fire later than the job's misfire grace
  as missed, and holds the job's one slot until the fire is over (finding,
  notifications); :meth:`FireExecutor.wait_idle` waits until every fire is.

Only public API of APScheduler is used: ``BaseJobStore``'s and ``BaseExecutor``'s
methods, ``Job``'s constructor and attributes, ``BaseTrigger.get_next_fire_time`` — no
private method is overridden or called, no private attribute read or set (the one
underscore name here, ``_do_submit_job``, is ``BaseExecutor``'s abstract method, which
an executor must define to be made at all). This module imports APScheduler at import
time; only the service imports it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.executors.base import BaseExecutor, MaxInstancesReachedError
from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.exc import IntegrityError

from orchestrator.errors import first_line
from orchestrator.schedule import jobrows, specs
from orchestrator.schedule.models import apscheduler_jobs

log = logging.getLogger("drill.scheduler")

#: what every job's ``func`` points at (a textual reference)
FIRE_REF = "orchestrator.schedule.aps:job_entry"
#: a due job later than this is caught up to its latest fire due, not stepped to it
CATCH_UP_AFTER = timedelta(minutes=1)


def job_entry(schedule_id: str) -> None:
    """Target of drill's jobs. :class:`FireExecutor` runs the real fire instead, with
    the scheduled time; reaching this means a job ran on a stock executor."""
    raise RuntimeError(f"job {schedule_id} must run on drill's FireExecutor")


class ScheduleTrigger(BaseTrigger):
    """The trigger of a schedule (:func:`.specs.build_trigger`), with its spec."""

    def __init__(self, kind: str, expr: str, timezone: str, start_at: datetime) -> None:
        self.kind, self.expr, self.timezone, self.start_at = kind, expr, timezone, start_at
        self.trigger = specs.build_trigger(kind, expr, timezone, start_at)

    @staticmethod
    def of(doc: jobrows.JobDoc) -> ScheduleTrigger:
        """The trigger of a stored job; one per spec (triggers are stateless, and a cron's
        takes ~0.3 ms to build: the loop loads every due job on each pass)."""
        return _trigger(doc.kind, doc.expr, doc.timezone, doc.start_at)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        found: datetime | None = self.trigger.get_next_fire_time(previous_fire_time, now)
        return found

    def __str__(self) -> str:
        return str(self.trigger)


@functools.lru_cache(maxsize=4096)
def _trigger(kind: str, expr: str, timezone: str, start_at: datetime) -> ScheduleTrigger:
    return ScheduleTrigger(kind, expr, timezone, start_at)


def _timestamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


class ScheduleJobStore(BaseJobStore):
    """drill's jobs in the ``apscheduler_jobs`` table (made by the migrations), as JSON.

    A job is its id (the schedule's), its next run time and a :class:`.jobrows.JobDoc`;
    the options of every job (misfire grace, coalescing, how many at once) are the
    store's, given by the service — a restart with another ``--misfire-grace`` applies it
    to every job. A row that is not such a document (a pickle planted in the shared
    database, say) is never loaded: it is logged and removed, as APScheduler's stores do
    with a job they cannot restore, and the service's next sync adds the schedule's job
    again.

    Stock 3.x guards only ``get_due_jobs`` in its loop: an error from ``update_job``,
    ``remove_job`` or ``get_next_run_time`` (the database restarting between those
    calls) ended the scheduler thread, and the service went on beating "ok" without
    firing again. Here the loop goes on: the service's next poll wakes it, a job whose
    new next run could not be stored comes due again, and its fire is claimed once
    (:mod:`.fire`).
    """

    def __init__(
        self,
        engine: Any,
        *,
        misfire_grace_time: int | None,
        coalesce: bool = True,
        max_instances: int = 1,
        executor: str = "default",
    ) -> None:
        super().__init__()
        self.engine, self.table = engine, apscheduler_jobs
        self.options: dict[str, Any] = {
            "misfire_grace_time": misfire_grace_time,
            "coalesce": coalesce,
            "max_instances": max_instances,
            "executor": executor,
        }
        self.scheduler: Any = None
        #: passes of the scheduler loop, which asks for due jobs first thing in each:
        #: the loop's heartbeat (APScheduler 3.x says nothing when its thread dies)
        self.passes = 0
        self.closed = False

    # ---- BaseJobStore ------------------------------------------------------------------
    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self.scheduler = scheduler

    def shutdown(self) -> None:
        """The engine is the evidence store's, which outlives the scheduler."""
        self.close()

    def close(self) -> None:
        """Hand out no due job any more. APScheduler's loop takes up the due jobs once
        more as the scheduler shuts down (its only guard is a pause), after its executor
        was shut: a fire that came due while a stop waited for a drill in flight went to
        the closed pool ('Error submitting job … cannot schedule new futures after
        shutdown') and the job moved on to its next time, so that fire was never run
        nor recorded. Left due here, the next start runs it (or records it missed)."""
        self.closed = True

    def lookup_job(self, job_id: str) -> Job | None:
        jobs = self._load(self.table.c.id == job_id)
        return jobs[0] if jobs else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        self.passes += 1
        if self.closed:
            return []
        due = self._load(self.table.c.next_run_time <= now.timestamp())
        return [self._caught_up(job, now) for job in due]

    def _caught_up(self, job: Job, now: datetime) -> Job:
        """A job due since long ago (every scheduler was down; its row kept) with its next
        run moved to the latest fire due: APScheduler steps from a job's next run to
        ``now`` one run time at a time, under its job-store lock, only to coalesce them
        into the last — a year of an every-10s schedule held every fire for ~19 s. The
        fire that runs (or is recorded missed, past the grace) is the same one."""
        late = job.next_run_time is not None and now - job.next_run_time > CATCH_UP_AFTER
        if not late or not job.coalesce:
            return job
        try:
            latest = specs.latest_fire(job.trigger, job.next_run_time, now)
        except Exception:  # left to APScheduler's stepping, which meets it as it did
            return job
        if latest is None or latest == job.next_run_time:
            return job
        return self._job(job.id, latest, job.name, job.trigger)

    def get_next_run_time(self) -> datetime | None:
        if self.closed:
            return None
        query = (
            sa.select(self.table.c.next_run_time)
            .where(self.table.c.next_run_time.is_not(None))
            .order_by(self.table.c.next_run_time)
            .limit(1)
        )
        try:
            with self.engine.begin() as conn:
                found = conn.execute(query).scalar()
        except Exception as exc:
            _database_failed("reading the next run time", exc)
            return None  # sleep until the service's next poll wakes the scheduler
        return None if found is None else datetime.fromtimestamp(found, UTC)

    def get_all_jobs(self) -> list[Job]:
        jobs = self._load()
        return [j for j in jobs if j.next_run_time] + [j for j in jobs if not j.next_run_time]

    def add_job(self, job: Job) -> None:
        values = {"id": job.id, **self._row(job)}
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(**values))
        except IntegrityError:
            raise ConflictingIdError(job.id) from None

    def update_job(self, job: Job) -> None:
        try:
            with self.engine.begin() as conn:
                done = conn.execute(
                    self.table.update().values(**self._row(job)).where(self.table.c.id == job.id)
                )
            if done.rowcount == 0:
                raise JobLookupError(job.id)
        except JobLookupError:
            log.debug("job %s was removed by another scheduler", job.id)
        except Exception as exc:
            _database_failed(f"storing the next run of job {job.id}", exc)

    def remove_job(self, job_id: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.delete().where(self.table.c.id == job_id))
        except Exception as exc:  # a job already gone is no error: a sibling removed it
            _database_failed(f"removing job {job_id}", exc)

    def remove_all_jobs(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.delete())

    # ---- rows <-> jobs -----------------------------------------------------------------
    def _row(self, job: Job) -> dict[str, Any]:
        trigger = job.trigger
        if not isinstance(trigger, ScheduleTrigger):
            raise TypeError(f"job {job.id}: only a schedule's trigger is stored, not {trigger}")
        doc = jobrows.JobDoc(
            job.name, trigger.kind, trigger.expr, trigger.timezone, trigger.start_at
        )
        return {"next_run_time": _timestamp(job.next_run_time), "job_state": doc.encode()}

    def _load(self, *where: Any) -> list[Job]:
        query = sa.select(self.table.c.id, self.table.c.next_run_time, self.table.c.job_state)
        query = query.where(*where).order_by(self.table.c.next_run_time)
        jobs, bad = [], []
        with self.engine.begin() as conn:
            for job_id, next_run, state in conn.execute(query):
                try:
                    doc = jobrows.decode(state)
                    at = None if next_run is None else datetime.fromtimestamp(next_run, UTC)
                    jobs.append(self._job(job_id, at, doc.name, ScheduleTrigger.of(doc)))
                except Exception as exc:
                    log.error("job %s cannot be restored (%s): removing it", job_id, exc)
                    bad.append(job_id)
            if bad:
                conn.execute(self.table.delete().where(self.table.c.id.in_(bad)))
        return jobs

    def _job(
        self, job_id: str, next_run: datetime | None, name: str, trigger: ScheduleTrigger
    ) -> Job:
        """Through ``Job``'s constructor, which validates every field as ``add_job`` does.
        (APScheduler's own stores set the private ``_jobstore_alias`` of the jobs they
        load; without it a job reads as ``pending`` and its ``modify()``-style shortcuts
        look in every store — drill has one, and uses neither.)"""
        return Job(
            self.scheduler,
            id=job_id,
            func=FIRE_REF,
            args=(),
            kwargs={"schedule_id": job_id},
            name=name,
            trigger=trigger,
            next_run_time=next_run,
            **self.options,
        )


def _database_failed(what: str, exc: Exception) -> None:
    from orchestrator.secrets import redact_text

    log.error(
        "job store: %s failed (retried on the next poll): %s", what, redact_text(first_line(exc))
    )


class FireExecutor(BaseExecutor):
    """Runs fires in threads: ``fire(schedule_id, scheduled_at)`` for each run time
    within the job's misfire grace, ``missed(schedule_id, scheduled_at)`` for each later
    one. A job runs ``max_instances`` fires at once at most (APScheduler's
    ``MaxInstancesReachedError`` beyond: the scheduler reports it as
    ``EVENT_JOB_MAX_INSTANCES``); a fire holds its slot until its very end. A fire in
    flight handed out again (its one-shot job added back before it claimed its row) is
    that same fire: nothing more is done, and no skip recorded."""

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
        self.times: dict[str, list[datetime]] = {}  # job id -> their run times
        self.settled = threading.Condition()

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        with self.settled:
            if set(run_times) <= set(self.times.get(job.id, ())):
                # the fire in flight, handed out again: a one-shot's job is removed as its
                # fire is handed out, and a sync before the fire claimed its row adds it
                # back. Not "the previous fire still running" — recorded as such, that
                # skip could take the claim from the fire itself.
                log.debug("job %s: its fire at %s is in flight already", job.id, run_times)
                return
            if self.running.get(job.id, 0) >= job.max_instances:
                raise MaxInstancesReachedError(job)
            self.running[job.id] = self.running.get(job.id, 0) + 1
            self.times.setdefault(job.id, []).extend(run_times)
        try:
            self.pool.submit(
                self._run, job.id, job.kwargs["schedule_id"], job.misfire_grace_time, run_times
            )
        except BaseException:
            self._settle(job.id, run_times)
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
                except BaseException:  # as APScheduler's run_job: logged, the next goes on
                    log.exception("fire of %s at %s failed", schedule_id, at.isoformat())
        finally:
            self._settle(job_id, run_times)

    def _settle(self, job_id: str, run_times: list[datetime]) -> None:
        with self.settled:
            left = self.running.pop(job_id, 1) - 1
            if left:
                self.running[job_id] = left
            times = self.times.pop(job_id, [])
            for at in run_times:
                if at in times:
                    times.remove(at)
            if times:
                self.times[job_id] = times
            self.settled.notify_all()

    @property
    def in_flight(self) -> int:
        with self.settled:
            return sum(self.running.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no fire is in flight; ``False`` if ``timeout`` passed first."""
        with self.settled:
            return self.settled.wait_for(lambda: not self.running, timeout)
