"""The scheduler service outlives a restart of its PostgreSQL evidence database.

A maintenance restart or a failover of the database is routine; the service is meant
to run for months. Before, its evidence connection stayed broken after the restart:
every later fire failed to be claimed and nothing ran again until the service was
restarted by hand. Real PostgreSQL (its own, stopped and started by the test), real
APScheduler, controlled clock; the launcher seam records what would run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from orchestrator.schedule import specs
from orchestrator.schedule.records import ScheduleFire
from tests.unit.test_schedule_firing import T0, _add, _advance, _service
from tests.unit.test_schedule_support import HookServer, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def hook() -> Iterator[HookServer]:
    server = HookServer()
    yield server
    server.close()


def test_fires_resume_after_the_database_restarts(workdir: Path, hook: HookServer) -> None:
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    from tests.pgserver import PgServer

    pg = PgServer().start()
    try:
        url = pg.create_database()
        with time_machine.travel(T0, tick=False) as tm:
            svc, launcher, store = _service(workdir, hook, database=url)
            sid = _add(store, specs.cron_spec("0 9 * * *"))
            svc.start()
            try:
                _advance(tm, svc, T0 + timedelta(seconds=11))  # 09:00 on day one
                wait_for(lambda: len(launcher.calls) == 1, what="the first fire")
                ctl = [pgbin.tool("pg_ctl"), "-D", str(pg.data)]
                pgbin.run([*ctl, "-m", "fast", "-w", "stop"])
                opts = f"-p {pg.port} -c listen_addresses=127.0.0.1 -k {pg.dir / 'sock'}"
                pgbin.run([*ctl, "-w", "-l", str(pg.dir / "log"), "-o", opts, "start"])
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
