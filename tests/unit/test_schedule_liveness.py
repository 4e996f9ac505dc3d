"""The scheduler service's health tells the truth about its APScheduler loop.

APScheduler 3.x runs its loop in a thread that an exception it does not catch ends
without a word; the service then went on answering ``/health`` 200 "ok" (and beating
"running" in `drill scheduler status`) while nothing fired. Here the real loop of a
real service is ended that way, with the clock under the test's control, and the
health endpoint is asked over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from orchestrator.cli import main
from orchestrator.schedule import specs
from orchestrator.schedule.aps import ScheduleJobStore
from orchestrator.schedule.health import HealthServer
from tests.unit.test_schedule_firing import T0, _add, _advance, _fires, _service
from tests.unit.test_schedule_support import HookServer, wait_for


class LoopKiller(BaseException):
    """Nothing in APScheduler's loop catches a BaseException: its thread ends."""


def _health(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _scheduler_status() -> dict[str, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["scheduler", "status", "--json"]) == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_health_says_stalled_when_the_scheduler_loop_dies(
    workdir: Path, hook: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        _add(store, specs.cron_spec("0 9 * * *"))
        svc.start()
        server = HealthServer(svc.health).start()
        limit = timedelta(minutes=10)  # longer than any poll should take
        try:
            # a working loop answers every wakeup: healthy, however far the clock moves
            at = T0 + timedelta(seconds=10.5)  # 09:00:00.5: the fire
            _advance(tm, svc, at)
            wait_for(lambda: len(launcher.calls) == 1, what="the fire")
            code, doc = _health(server.url)
            assert (code, doc["status"], doc.get("stalled_since")) == (200, "ok", None)
            # the service's own poll loop stopped coming round: not healthy either
            tm.move_to(at + limit)
            assert _health(server.url)[0] == 503
            at += limit
            _advance(tm, svc, at)
            assert _health(server.url)[:1] == (200,)

            # now the loop's thread ends on an exception nothing in it catches
            called = threading.Event()

            def die(*_args: Any) -> Any:
                called.set()
                raise LoopKiller("boom")

            monkeypatch.setattr(ScheduleJobStore, "get_due_jobs", die)
            svc.tick()
            assert called.wait(15), "the loop did not look for due jobs"
            for _ in range(2):  # its last wakeup unanswered for longer than the limit
                at += limit
                tm.move_to(at)
                svc.tick()
            code, doc = _health(server.url)
            assert (code, doc["status"]) == (503, "stalled")
            assert doc["stalled_since"] is not None
            status = _scheduler_status()
            assert status["running"] is False
            assert status["instances"][0]["state"] == "stalled"
        finally:
            server.stop()
            svc.stop()


def test_a_poll_longer_than_a_minute_still_beats_the_heartbeat(
    workdir: Path, hook: HookServer
) -> None:
    """`drill scheduler status` takes an instance silent for 60 s for dead; with
    `--poll 600` the heartbeat was written only every 600 s, so a running service
    showed as "not running" most of the time. Now it beats between polls."""
    from orchestrator.schedule.models import SchedulerInstance

    svc, _launcher, store = _service(workdir, hook)
    svc.poll_s, svc.heartbeat_s = 600.0, 0.05  # a long poll; beats made quick for the test

    def beat() -> Any:
        with store.session() as s:
            row = s.get(SchedulerInstance, svc.instance_id)
            return row.heartbeat_at if row is not None else None

    stop = threading.Event()
    service = threading.Thread(target=svc.run, args=(stop,))
    service.start()
    try:
        wait_for(lambda: beat() is not None, what="the service to start")
        first = beat()
        wait_for(lambda: beat() > first, what="a heartbeat between two polls")
    finally:
        stop.set()
        service.join(60)
    assert not service.is_alive()


def test_a_fire_of_a_killed_scheduler_is_marked_lost_after_a_minute(
    workdir: Path, hook: HookServer
) -> None:
    """A supervisor restarts a SIGKILLed service at once, when the dead one's heartbeat
    still looks fresh: its fire in flight stayed "running" for good (lost fires were
    looked for at start only). Now the first poll after a minute of silence says lost."""
    from orchestrator.schedule.fire import claim, load_schedule
    from orchestrator.schedule.models import SchedulerInstance

    with time_machine.travel(T0, tick=False) as tm:
        svc, _launcher, store = _service(workdir, hook)
        sid = _add(store, specs.cron_spec("0 12 * * *"))  # no fire of its own in the test
        store.add(
            SchedulerInstance(
                id="killed", host="h", pid=1, started_at=T0, heartbeat_at=T0, health_url=None
            )
        )
        svc.ctx.instance_id = "killed"  # the dead one's claim, as it made it
        sched = load_schedule(store.db, sid)
        assert sched is not None and claim(svc.ctx, sched, T0) is not None
        svc.ctx.instance_id = "restarted"
        tm.move_to(T0 + timedelta(seconds=1))
        svc.start()
        try:
            _advance(tm, svc, T0 + timedelta(seconds=5))
            assert [f.status for f in _fires(store)] == ["running"]  # its owner may live
            _advance(tm, svc, T0 + timedelta(seconds=61))
            assert [f.status for f in _fires(store)] == ["lost"]
        finally:
            svc.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_stalled_service_exits_for_its_supervisor_to_restart_it(
    workdir: Path, hook: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker's healthcheck marks a container unhealthy but restarts nothing; systemd
    restarts on exit. A stalled service lets its drills finish and stops with an error."""
    from orchestrator.errors import DrillError
    from orchestrator.schedule.models import SchedulerInstance

    svc, _launcher, store = _service(workdir, hook)
    svc.poll_s, svc.stall_after_s = 0.05, 0.5  # quick, for the test
    called = threading.Event()

    def die(*_args: Any) -> Any:
        called.set()
        raise LoopKiller("boom")

    monkeypatch.setattr(ScheduleJobStore, "get_due_jobs", die)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            svc.run(threading.Event())
        except BaseException as exc:
            outcome.append(exc)

    service = threading.Thread(target=run)
    service.start()
    service.join(60)
    assert not service.is_alive(), "the stalled service went on running"
    assert called.is_set()
    (exc,) = outcome
    assert isinstance(exc, DrillError) and "stalled" in exc.message
    with store.session() as s:
        row = s.get(SchedulerInstance, svc.instance_id)
        assert row is not None and row.state == "stopped"


def test_a_lost_fire_names_the_run_its_killed_scheduler_started(
    workdir: Path, hook: HookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 of the service mid-run: its child `drill run` (a session of its own) goes
    on and records itself, but the fire said only 'see the run', with no run id, and
    `drill scheduler status` listed the dead instance as 'running' a minute later."""
    from orchestrator.evidence.records import Run
    from orchestrator.schedule.fire import claim, load_schedule
    from orchestrator.schedule.models import SchedulerInstance
    from tests.clihelp import drill

    with time_machine.travel(T0, tick=False) as tm:
        svc, _launcher, store = _service(workdir, hook)
        sid = _add(store, specs.cron_spec("0 12 * * *"))
        store.add(
            SchedulerInstance(
                id="killed", host="h", pid=1, started_at=T0, heartbeat_at=T0, health_url=None
            )
        )
        svc.ctx.instance_id = "killed"
        sched = load_schedule(store.db, sid)
        assert sched is not None and claim(svc.ctx, sched, T0) is not None
        store.db.write(
            Run(
                id="r-orphan",
                target="tiny",
                target_kind="experiment",
                env="lab",
                trigger="schedule",
                who="root",
                host="h",
                pid=2,
                started_at=T0 + timedelta(seconds=0.5),
                schedule_id=sid,
            )
        )
        svc.ctx.instance_id = "restarted"
        tm.move_to(T0 + timedelta(seconds=1))
        svc.start()
        try:
            _advance(tm, svc, T0 + timedelta(seconds=61))
            (fire,) = _scheduler_status()["recent_fires"]
            assert (fire["status"], fire["run_id"]) == ("lost", "r-orphan")
            assert "r-orphan was in flight" in fire["reason"]
            text = drill(capsys, "scheduler", "status").out
        finally:
            svc.stop()
    (killed,) = [line for line in text.splitlines() if line.split()[:1] == ["killed"]]
    assert killed.split()[1] == "gone", text
