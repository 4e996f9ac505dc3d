"""drill's job store keeps a job as JSON and loads nothing else.

Every row of the job table that is not a job of drill's — a pickle, other JSON, a field
of the wrong type, a spec no trigger can be built from — is removed as a job that cannot
be restored; the jobs that are load with their next run, trigger and the store's options.
A real SQLite database, APScheduler's real scheduler object (not started).
"""

from __future__ import annotations

import json
import os
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler

from orchestrator.schedule import jobrows
from orchestrator.schedule.aps import FIRE_REF, ScheduleJobStore
from orchestrator.schedule.models import apscheduler_jobs

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def _doc(**trigger: str) -> bytes:
    spec = {"kind": "cron", "expr": "0 9 * * 1", "timezone": "Europe/Paris"}
    spec |= {"start_at": START.isoformat(), **trigger}
    return json.dumps({"v": 1, "name": "run tiny@lab", "trigger": spec}).encode()


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("true",)


BAD = {
    "pickle": pickle.dumps({"x": _Payload()}),
    "not-json": b"\x80\x04garbage",
    "other-json": json.dumps({"func": "os:system", "args": ["true"]}).encode(),
    "new-version": json.dumps({"v": 2, "name": "x", "trigger": {}}).encode(),
    "number-name": json.dumps({"v": 1, "name": 1, "trigger": {}}).encode(),
    "no-zone-start": _doc(start_at="2030-01-07T09:00:00"),
    "bad-kind": _doc(kind="python"),
    "bad-cron": _doc(expr="0 9 * *"),
    "bad-zone": _doc(timezone="Mars/Olympus"),
}


def test_only_drills_own_jobs_load_and_the_rest_is_removed(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/jobs.db")
    apscheduler_jobs.create(engine)
    with engine.begin() as conn:
        conn.execute(
            apscheduler_jobs.insert(),
            [{"id": "good", "next_run_time": START.timestamp(), "job_state": _doc()}]
            + [
                {"id": k, "next_run_time": START.timestamp() - 1, "job_state": v}
                for k, v in BAD.items()
            ],
        )
    store = ScheduleJobStore(engine, misfire_grace_time=60)
    store.start(BackgroundScheduler(timezone=UTC), "default")

    (job,) = store.get_due_jobs(START)
    assert (job.id, job.name, job.next_run_time) == ("good", "run tiny@lab", START)
    assert (job.func_ref, job.kwargs) == (FIRE_REF, {"schedule_id": "good"})
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (60, True, 1)
    assert job.trigger.get_next_fire_time(START, START) == datetime(2030, 1, 14, 8, tzinfo=UTC)
    with engine.connect() as conn:
        left = {r[0] for r in conn.execute(sa.select(apscheduler_jobs.c.id))}
    assert left == {"good"}

    job.next_run_time = datetime(2030, 1, 14, 8, tzinfo=UTC)
    store.update_job(job)  # as the scheduler's loop stores a job's next run
    (again,) = store.get_all_jobs()
    assert again.next_run_time == job.next_run_time
    with engine.connect() as conn:
        state = conn.execute(sa.select(apscheduler_jobs.c.job_state)).scalar_one()
    assert jobrows.decode(state) == jobrows.JobDoc(
        "run tiny@lab", "cron", "0 9 * * 1", "Europe/Paris", START
    )
    engine.dispose()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("pickle", "not a job of drill's"),
        ("not-json", "not a job of drill's"),
        ("other-json", "not a version 1 job"),
        ("new-version", "not a version 1 job"),
        ("number-name", "must be non-empty strings"),
        ("no-zone-start", "start_at has no time zone"),
        ("bad-kind", "unknown trigger kind 'python'"),
    ],
)
def test_a_row_that_is_not_a_job_document_is_refused_saying_why(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        jobrows.decode(BAD[name])
