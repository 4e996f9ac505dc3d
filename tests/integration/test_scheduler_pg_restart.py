"""The scheduler service outlives a restart of its PostgreSQL evidence database.

A maintenance restart or a failover of the database is routine; the service is meant
to run for months. Before, its evidence connection stayed broken after the restart:
every later fire failed to be claimed and nothing ran again until the service was
restarted by hand. Real PostgreSQL (its own, stopped and started by the test), real
APScheduler, controlled clock; the launcher seam records what would run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from orchestrator.schedule import specs
from orchestrator.schedule.records import ScheduleFire
from tests.pgserver import own_server
from tests.unit.test_schedule_firing import T0, _add, _advance, _service
from tests.unit.test_schedule_support import HookServer, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_fires_resume_after_the_database_restarts(workdir: Path, hook: HookServer) -> None:
    pg = own_server()
    try:
        url = pg.create_database()
        with time_machine.travel(T0, tick=False) as tm:
            svc, launcher, store = _service(workdir, hook, database=url)
            sid = _add(store, specs.cron_spec("0 9 * * *"))
            svc.start()
            try:
                _advance(tm, svc, T0 + timedelta(seconds=11))  # 09:00 on day one
                wait_for(lambda: len(launcher.calls) == 1, what="the first fire")
                pg.halt()
                pg.resume()
                svc.tick()  # a poll while the old connection is the broken one
                _advance(tm, svc, T0 + timedelta(days=1, seconds=11))  # 09:00 on day two
                wait_for(lambda: len(launcher.calls) == 2, what="the fire after the restart")
                assert svc.wait_idle(15.0)
            finally:
                svc.stop()
            fires: list[ScheduleFire] = store.db.records(ScheduleFire, "schedule_id = ?", (sid,))
            store.dispose()
        assert [f.status for f in fires] == ["succeeded", "succeeded"]
    finally:
        pg.stop()


def test_the_job_store_survives_a_database_outage(workdir: Path) -> None:
    """APScheduler's main loop guards only ``get_due_jobs``: an error from the job
    store's other calls ended the scheduler thread for good (seen when the database
    restarted between two of them). drill's job store logs it and lets the loop go on."""
    from apscheduler.job import Job
    from apscheduler.schedulers.background import BackgroundScheduler

    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.schedule.aps import FIRE_REF, ScheduleJobStore, ScheduleTrigger

    pg = own_server()
    try:
        store = EvidenceStore(pg.create_database())
        jobs = ScheduleJobStore(store.engine, misfire_grace_time=1)
        sched = BackgroundScheduler(jobstores={"default": jobs}, timezone=UTC)
        jobs.start(sched, "default")

        def job(at: datetime) -> Job:
            return Job(
                sched,
                id="j1",
                func=FIRE_REF,
                trigger=ScheduleTrigger("interval", "3600", "UTC", T0),
                args=(),
                kwargs={"schedule_id": "j1"},
                next_run_time=at,
                executor="default",
                name="run tiny@lab",
                misfire_grace_time=1,
                coalesce=True,
                max_instances=1,
            )

        jobs.add_job(job(T0))
        assert jobs.get_next_run_time() == T0
        pg.halt()
        assert jobs.get_next_run_time() is None  # said, not raised
        jobs.update_job(job(T0 + timedelta(hours=1)))
        jobs.remove_job("j1")
        pg.resume()
        assert jobs.get_next_run_time() == T0  # nothing was lost, nothing half-written
        store.dispose()
    finally:
        pg.stop()


def _ask(url: str, method: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_health_says_the_database_is_unreachable_and_answers_head(
    workdir: Path, hook: HookServer
) -> None:
    """`/health` said ok while the evidence database was down (nothing could be claimed
    or recorded), and answered `HEAD /health` — what monitoring tools send — 501."""
    import json

    from orchestrator.schedule.health import HealthServer

    pg = own_server()
    try:
        url = pg.create_database()
        svc, _launcher, store = _service(workdir, hook, database=url)
        svc.start()
        server = HealthServer(svc.health).start()
        try:
            code, body = _ask(server.url, "GET")
            assert (code, json.loads(body)["status"]) == (200, "ok"), body
            assert _ask(server.url, "HEAD") == (200, b"")
            pg.halt()
            code, body = _ask(server.url, "GET")
            doc = json.loads(body)
            assert (code, doc["status"]) == (503, "database_unreachable"), doc
            assert "unreachable" in doc["reason"] and "Traceback" not in doc["reason"]
            assert _ask(server.url, "HEAD") == (503, b"")
            pg.resume()
            code, body = _ask(server.url, "GET")
            assert (code, json.loads(body)["status"]) == (200, "ok"), body
        finally:
            server.stop()
            svc.stop()
            store.dispose()
    finally:
        pg.stop()
