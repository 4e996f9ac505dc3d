"""The job table of `drill scheduler run` lives in the evidence database, which
schedulers on several machines share: APScheduler's own job store pickles each job
there, and a row someone else wrote was unpickled — run — by every scheduler when it
came due (``os.system`` and its arguments is a pickle). drill's job store keeps jobs as
JSON and never unpickles; any other row is a job that cannot be restored, removed, and
the scheduler goes on with the jobs of its schedules. Stores the previous drill left
with pickled jobs are converted without unpickling them."""

from __future__ import annotations

import json
import os
import pickle
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from tests.clihelp import drill, spawn
from tests.unit.test_schedule_support import make_project, wait_for

pytestmark = pytest.mark.slow


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_a_job_row_pickled_by_someone_else_is_not_run(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{workdir}/evidence.db"
    make_project(workdir, database=url)
    added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "1h", "--json")
    assert added.code == 0, added.err
    sid = json.loads(added.out)["id"]
    engine = sa.create_engine(url)
    proc = spawn(workdir, "scheduler", "run", "--poll", "1")
    marker = workdir / "PWNED"
    try:

        def jobs() -> set[str]:
            with engine.connect() as conn:
                try:
                    return {r[0] for r in conn.execute(sa.text("SELECT id FROM apscheduler_jobs"))}
                except sa.exc.OperationalError:  # the table is made as the service starts
                    return set()

        wait_for(lambda: sid in jobs(), timeout=60, what="the schedule's job")
        hostile = pickle.dumps({"x": _Payload(marker)})
        with engine.begin() as conn:  # the schedule's own job, due now
            conn.execute(
                sa.text(
                    "UPDATE apscheduler_jobs SET next_run_time = 0, job_state = :s WHERE id = :i"
                ),
                {"s": hostile, "i": sid},
            )

        def state() -> bytes | None:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text("SELECT job_state FROM apscheduler_jobs WHERE id = :i"), {"i": sid}
                ).first()
            return None if row is None else bytes(row[0])

        # removed as a job that cannot be restored, then added again by the service
        wait_for(lambda: state() not in (None, hostile), timeout=60, what="the job restored")
        assert proc.poll() is None, "the scheduler goes on"
        assert jobs() == {sid}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        engine.dispose()
    assert not marker.exists(), "the pickled command ran"
    assert proc.returncode == 0, err


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, workdir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{workdir}/evidence.db"
    return str(request.getfixturevalue("pg_dsn"))


def test_job_rows_pickled_by_the_previous_drill_are_converted_without_unpickling(
    store_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The previous drill kept each job as APScheduler's pickle; this one keeps JSON and
    never unpickles. Upgrading the store rewrites each job from its schedule, keeping
    its next run (fires already run or missed are not taken up again); a cron with both
    day fields gets cron's either-day rule, its next run no later than that rule says;
    rows of no schedule are dropped; a planted pickle is never loaded."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from orchestrator.schedule import jobrows
    from orchestrator.schedule.aps import FIRE_REF

    t0 = datetime(2030, 1, 7, 8, 59, 50, tzinfo=UTC)  # a Monday
    make_project(workdir, database=store_url)
    with time_machine.travel(t0, tick=False):
        sids = []
        for spec in (["--every", "1h"], ["--cron", "0 9 13 * 5"], ["--every", "2h"]):
            added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", *spec, "--json")
            assert added.code == 0, added.err
            sids.append(json.loads(added.out)["id"])
    every, both_days, planted = sids
    stored = {
        every: t0 + timedelta(minutes=30),  # not what the schedule alone gives (+1 h)
        both_days: datetime(2030, 9, 13, 9, 0, tzinfo=UTC),  # APScheduler's Friday the 13th
    }
    marker = workdir / "PWNED"
    # the rows as the previous drill left them: APScheduler's SQLAlchemy job store
    engine = sa.create_engine(store_url)
    old = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)}, timezone=UTC
    )
    old.add_job(
        FIRE_REF,
        IntervalTrigger(hours=1),
        id=every,
        kwargs={"schedule_id": every},
        next_run_time=stored[every],
    )
    old.add_job(
        FIRE_REF,
        CronTrigger(day=13, day_of_week="fri", hour=9, minute=0, timezone=UTC),
        id=both_days,
        kwargs={"schedule_id": both_days},
        next_run_time=stored[both_days],
    )
    old.add_job(
        FIRE_REF,
        IntervalTrigger(hours=1),
        id="gone",
        kwargs={"schedule_id": "gone"},
        next_run_time=t0,
    )
    old.start(paused=True)
    old.shutdown()
    hostile = pickle.dumps({"x": _Payload(marker)})
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO apscheduler_jobs VALUES (:i, :t, :s)"),
            {"i": planted, "t": t0.timestamp(), "s": hostile},
        )
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0006_environment_events'"))

    with time_machine.travel(t0, tick=False):
        listed = drill(capsys, "schedule", "list", "--json")  # opening the store upgrades it
    assert listed.code == 0, listed.err
    assert "upgrading the evidence database" in listed.err
    assert not marker.exists(), "the planted pickle ran"
    with engine.connect() as conn:
        rows = {
            r[0]: (r[1], jobrows.decode(r[2]))
            for r in conn.execute(
                sa.text("SELECT id, next_run_time, job_state FROM apscheduler_jobs")
            )
        }
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert version == "0007_plain_jobs"
    assert set(rows) == {every, both_days, planted}  # "gone" had no schedule
    friday = datetime(2030, 1, 11, 9, 0, tzinfo=UTC)  # cron: every 13th and every Friday
    assert {sid: datetime.fromtimestamp(t, UTC) for sid, (t, _) in rows.items()} == {
        every: stored[every],
        both_days: friday,
        planted: t0,  # the planted row's time is kept: its schedule's job, as JSON now
    }
    assert [(d.kind, d.expr, d.name) for _t, d in (rows[every], rows[both_days])] == [
        ("interval", "3600", "run tiny@lab"),
        ("cron", "0 9 13 * 5", "run tiny@lab"),
    ]
    nxt = {d["id"]: d["next_fire_at"] for d in json.loads(listed.out)}
    assert nxt[every] == stored[every].isoformat().replace("+00:00", "Z")

    # and drill's job store loads them as the service will
    from orchestrator.schedule.aps import ScheduleJobStore

    engine = sa.create_engine(store_url)
    jobs = ScheduleJobStore(engine, misfire_grace_time=300)
    jobs.start(BackgroundScheduler(timezone=UTC), "default")
    loaded = {j.id: j for j in jobs.get_all_jobs()}
    engine.dispose()
    assert {k: j.next_run_time for k, j in loaded.items()} == {
        every: stored[every],
        both_days: friday,
        planted: t0,
    }
    sunday_13th = datetime(2030, 1, 13, 9, 0, tzinfo=UTC)
    assert loaded[both_days].trigger.get_next_fire_time(friday, friday) == sunday_13th
