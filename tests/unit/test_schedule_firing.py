"""The scheduler service under a controlled clock (time-machine).

A real APScheduler BackgroundScheduler with drill's job store in a real
SQLite evidence DB; time is frozen and moved by the test, and each move is
followed by a tick (the service's poll). What runs at a fire is recorded by the
launcher seam; webhooks go to a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from orchestrator.config import load_settings
from orchestrator.evidence.enums import utcnow
from orchestrator.evidence.records import Finding
from orchestrator.evidence.store import EvidenceStore
from orchestrator.notify.webhook import WebhookNotifier
from orchestrator.schedule import schedules, specs
from orchestrator.schedule.records import ScheduleFire
from orchestrator.schedule.service import SchedulerService
from tests.unit.test_schedule_support import (
    HookServer,
    RecordingLauncher,
    make_project,
    wait_for,
)

T0 = datetime(2030, 1, 7, 8, 59, 50, tzinfo=UTC)  # a Monday


def _service(
    root: Path, hook: HookServer, extra: str = "", grace: float = 300.0, database: str | None = None
) -> tuple[SchedulerService, RecordingLauncher, EvidenceStore]:
    settings = load_settings(str(make_project(root, database, extra=extra)))
    store = EvidenceStore(settings.database_url())
    launcher = RecordingLauncher(utcnow)
    notifier = WebhookNotifier([hook.url()], retries=0)
    svc = SchedulerService(
        settings,
        store,
        launcher=launcher,
        notifier=notifier,
        misfire_grace_s=grace,
        compliance_every_s=1e9,
    )
    return svc, launcher, store


def _fires(store: EvidenceStore) -> list[ScheduleFire]:
    return store.db.records(ScheduleFire, order="scheduled_at")


def _wait_ended(store: EvidenceStore, n: int) -> None:
    """Until ``n`` fires are recorded and over (a row exists once APScheduler submitted
    the fire: "every row ended" alone also holds before that)."""
    wait_for(lambda: sum(1 for f in _fires(store) if f.ended_at) == n, what=f"{n} fire records")


def _findings(store: EvidenceStore, kind: str) -> list[Finding]:
    return store.db.records(Finding, "kind = ?", (kind,))


def _add(store: EvidenceStore, spec: specs.Spec, target: str = "tiny") -> str:
    return schedules.add_schedule(store.db, target, "lab", spec, "tester", utcnow()).id


def _advance(tm: time_machine.Coordinates, svc: SchedulerService, to: datetime) -> None:
    # A fire is over only after its finding and notifications, which follow the fire
    # row (and the launcher call) the tests wait for; until then APScheduler counts it
    # as running (max_instances=1). Jumping the clock before that — no real time
    # passes — would make the next fire of the same job a "still running" skip.
    assert svc.wait_idle(15.0), "a fire was still in flight 15 s later"
    tm.move_to(to)
    svc.tick()


def test_cron_interval_and_one_shot_fire_at_their_times(workdir: Path, hook: HookServer) -> None:
    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        cron_id = _add(store, specs.cron_spec("0 9 * * *"))
        every_id = _add(store, specs.every_spec("30s"))
        once_id = _add(store, specs.at_spec("+45s", None, utcnow()))
        svc.start()
        try:
            assert launcher.calls == []
            _advance(tm, svc, T0 + timedelta(seconds=10.5))  # 09:00:00.5
            wait_for(lambda: len(launcher.calls) == 1, what="the cron fire")
            _advance(tm, svc, T0 + timedelta(seconds=30.2))  # interval: T0 + 30 s
            wait_for(lambda: len(launcher.calls) == 2, what="the interval fire")
            _advance(tm, svc, T0 + timedelta(seconds=45.1))  # one shot: T0 + 45 s
            wait_for(lambda: len(launcher.calls) == 3, what="the one-shot fire")
            _advance(tm, svc, T0 + timedelta(seconds=60.3))  # interval again, one shot not
            wait_for(lambda: len(launcher.calls) == 4, what="the second interval fire")
            _advance(tm, svc, T0 + timedelta(seconds=75))
            wait_for(lambda: all(f.ended_at for f in _fires(store)), what="fires to end")
        finally:
            svc.stop()
    fires = _fires(store)
    got = [(f.schedule_id, f.scheduled_at) for f in fires]
    assert got == [
        (cron_id, datetime(2030, 1, 7, 9, 0, 0, tzinfo=UTC)),
        (every_id, T0 + timedelta(seconds=30)),
        (once_id, T0 + timedelta(seconds=45)),
        (every_id, T0 + timedelta(seconds=60)),
    ]
    assert {f.status for f in fires} == {"succeeded"}
    assert {f.claimed_by for f in fires} == {svc.instance_id}
    assert [(c[0].target, c[0].env, c[0].trigger) for c in launcher.calls] == [
        ("tiny", "lab", "schedule")
    ] * 4
    assert [c[0].schedule_id for c in launcher.calls] == [cron_id, every_id, once_id, every_id]
    # webhooks: a start and a finish per fire, Slack-compatible, token never sent in text
    wait_for(lambda: len(hook.posts) >= 8, what="webhooks")
    assert hook.events().count("drill_run_start") == 4
    assert hook.events().count("drill_run_finish") == 4
    assert all("text" in p and p["attachments"][0]["fields"] for p in hook.posts)


def test_blackout_window_skips_and_records_without_a_finding_per_fire(
    workdir: Path, hook: HookServer
) -> None:
    """A freeze is intended: each held fire is a ``skipped`` fire row (shown as the
    schedule's last fire), one notification per schedule says the freeze holds it, and
    no finding is filed — not one per fire of a frequent schedule."""
    freeze = (
        "blackout_windows:\n"
        "  - {name: january freeze, start: 2030-01-07T08:00, end: 2030-01-07T09:02}\n"
    )
    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook, freeze)
        daily = _add(store, specs.cron_spec("0 9 * * *"))
        every = _add(store, specs.every_spec("30s"))  # fires at T0 + 30 s, + 60 s, …
        svc.start()
        try:
            for k in range(1, 6):  # 09:00:00 (daily), then 09:00:20 … 09:02:20 (every)
                _advance(tm, svc, T0 + timedelta(seconds=30 * k + 0.5))
                _wait_ended(store, k + 1)
            wait_for(lambda: len(launcher.calls) == 1, what="the fire after the freeze")
            held = schedules.list_docs(store.db, utcnow())
        finally:
            svc.stop()
    got = [(f.schedule_id, f.status, f.reason) for f in _fires(store)]
    frozen = "blackout window 'january freeze'"
    assert got == [
        (daily, "skipped", frozen),
        (every, "skipped", frozen),
        (every, "skipped", frozen),
        (every, "skipped", frozen),
        (every, "skipped", frozen),
        (every, "succeeded", None),
    ]
    assert _findings(store, "scheduled_run_skipped") == []
    assert hook.events().count("drill_run_skipped") == 2  # one per schedule, not per fire
    last = {d["id"]: d["last_fire"] for d in held}
    assert (last[daily]["status"], last[daily]["reason"]) == ("skipped", frozen)
    assert last[every]["status"] == "succeeded"


def test_a_quarter_held_by_a_freeze_is_still_one_missed_finding(
    workdir: Path, hook: HookServer
) -> None:
    """The freeze excuses each fire, not the quarter: a quarter that ended without a
    successful run is still its single ``drill_overdue`` finding (DESIGN 9)."""
    from orchestrator.schedule.compliance import drill_status

    start = datetime(2029, 12, 20, 12, tzinfo=UTC)
    freeze = "blackout_windows:\n  - {name: long freeze, start: 2029-12-20, end: 2030-04-15}\n"
    with time_machine.travel(start, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook, freeze)
        _add(store, specs.cron_spec("quarterly"), target="qdr")
        svc.start()
        try:
            for n, at in enumerate(
                (
                    datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC),
                    datetime(2030, 4, 1, 0, 0, 1, tzinfo=UTC),
                ),
                start=1,
            ):
                _advance(tm, svc, at)
                _wait_ended(store, n)
        finally:
            svc.stop()
        for _ in range(2):  # recorded once, however often the status is computed
            drill_status(svc.settings, store.db, utcnow(), record=True)
    assert [f.status for f in _fires(store)] == ["skipped", "skipped"]
    assert launcher.calls == []
    assert _findings(store, "scheduled_run_skipped") == []
    (overdue,) = _findings(store, "drill_overdue")
    assert overdue.drill == "qdr" and "2030-Q1" in overdue.title


def test_fires_missed_while_down_are_recorded_not_run(workdir: Path, hook: HookServer) -> None:
    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook, grace=60)
        sid = _add(store, specs.cron_spec("0 9 * * *"))
        tm.move_to(T0 + timedelta(hours=2))  # the scheduler was down at 09:00
        svc.start()
        try:
            wait_for(lambda: _fires(store) and _fires(store)[0].ended_at, what="missed fire")
        finally:
            svc.stop()
    (fire,) = _fires(store)
    assert (fire.schedule_id, fire.status) == (sid, "missed")
    assert fire.scheduled_at == datetime(2030, 1, 7, 9, tzinfo=UTC)
    assert launcher.calls == []
    assert _findings(store, "scheduled_run_skipped")


def test_a_restart_with_another_misfire_grace_applies_it_to_every_job(
    workdir: Path, hook: HookServer
) -> None:
    """`drill scheduler run --misfire-grace`: 'a fire late by more than this is recorded as
    missed'. A job kept the grace of the service that first stored it, so after a restart
    with a shorter one a fire two minutes late still ran."""
    with time_machine.travel(T0, tick=False) as tm:
        first, _, store = _service(workdir, hook, grace=300)
        sid = _add(store, specs.cron_spec("0 9 * * *"))
        first.start()  # stores the job
        first.stop()
        tm.move_to(T0 + timedelta(seconds=10 + 120))  # 09:02, the service down since 08:59
        again, launcher, _ = _service(workdir, hook, grace=60)
        again.start()
        try:
            wait_for(lambda: _fires(store) and _fires(store)[0].ended_at, what="the late fire")
        finally:
            again.stop()
    (fire,) = _fires(store)
    assert (fire.schedule_id, fire.status) == (sid, "missed")
    assert launcher.calls == []


def test_a_fire_that_raises_a_base_exception_is_logged_and_frees_its_schedule(
    workdir: Path, hook: HookServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Something a fire raised that is not an Exception ended its worker without a word
    (APScheduler's own executor logged it), so a schedule could stop firing unexplained."""

    class Died(BaseException):
        pass

    class DyingLauncher(RecordingLauncher):
        def run(self, req: Any) -> Any:
            super().run(req)
            raise Died("the launcher died")

    with time_machine.travel(T0, tick=False) as tm:
        svc, _, store = _service(workdir, hook)
        svc.ctx.launcher = launcher = DyingLauncher(utcnow)
        sid = _add(store, specs.every_spec("10s"))
        svc.start()
        try:
            for n in (1, 2):  # the next fire runs: its slot was freed
                _advance(tm, svc, T0 + timedelta(seconds=10 * n + 0.1))
                wait_for(lambda n=n: len(launcher.calls) == n, what=f"fire {n}")  # type: ignore[misc]
                assert svc.wait_idle(15.0)
        finally:
            svc.stop()
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is Died]
    assert [r.getMessage().split(" at ")[0] for r in logged] == ["fire of " + sid] * 2


def test_failed_scheduled_run_becomes_a_finding(workdir: Path, hook: HookServer) -> None:
    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        launcher.exit_code = 1
        _add(store, specs.every_spec("10s"))
        svc.start()
        try:
            _advance(tm, svc, T0 + timedelta(seconds=10.1))
            wait_for(lambda: _fires(store) and _fires(store)[0].ended_at, what="failed fire")
        finally:
            svc.stop()
    assert _fires(store)[0].status == "failed"
    (f,) = _findings(store, "scheduled_run_failed")
    assert f.drill == "tiny" and "step failed" in (f.detail or "")


def test_gameday_is_announced_run_and_summarised(workdir: Path, hook: HookServer) -> None:
    from orchestrator.schedule import gameday

    other = HookServer()
    try:
        with time_machine.travel(T0, tick=False) as tm:
            svc, launcher, store = _service(workdir, hook)
            gd = gameday.create(
                svc.settings,
                store,
                date="2030-01-08T10:00",
                drills=["qdr"],
                participants=["alice", "bob"],
                env="lab",
                notify=[other.url("/hook/gd-token")],
                title="Q1 game day",
                announce_before="1d",
                timezone=None,
                yes=False,
                who="tester",
                now=utcnow(),
            )
            svc.start()
            try:
                _advance(tm, svc, datetime(2030, 1, 7, 10, 0, 1, tzinfo=UTC))
                wait_for(
                    lambda: gameday.get(store.db, gd.id).status == "announced",
                    what="the announcement",
                )
                assert launcher.calls == []
                _advance(tm, svc, datetime(2030, 1, 8, 10, 0, 1, tzinfo=UTC))
                wait_for(
                    lambda: gameday.get(store.db, gd.id).status == "completed",
                    what="the game day run",
                )
            finally:
                svc.stop()
        (call,) = launcher.calls
        assert (call[0].target, call[0].trigger, call[0].gameday_id) == ("qdr", "gameday", gd.id)
        done = gameday.get(store.db, gd.id)
        assert done.summary is not None and done.summary["succeeded"] == 1
        # both the drill.yaml-wide hook and the game day's own hook got both messages
        for server in (hook, other):
            assert server.events() == ["drill_gameday_announce", "drill_gameday_summary"]
        # the title is said once: "Q1 game day", not "Game day Q1 game day"
        assert other.posts[0]["text"].startswith("*Q1 game day: 2030-01-08 10:00 UTC on lab*")
        assert other.posts[1]["text"].startswith("*Q1 game day completed*")
        announce = other.posts[0]["metadata"]["event_payload"]
        assert announce["participants"] == ["alice", "bob"] and announce["drills"] == ["qdr"]
    finally:
        other.close()


def test_a_game_day_stopped_midway_starts_no_further_drill(workdir: Path, hook: HookServer) -> None:
    """A drill of the game day aborted (the service stopping, `drill abort`): the drills
    after it are not started, and the game day and its fire say ``interrupted``."""
    from orchestrator.schedule import gameday

    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        launcher.exit_code = 3
        gd = gameday.create(
            svc.settings,
            store,
            date="2030-01-07T09:00",
            drills=["qdr", "tiny"],
            participants=["alice"],
            env="lab",
            notify=[],
            title="stopped game day",
            announce_before="5s",
            timezone=None,
            yes=False,
            who="tester",
            now=utcnow(),
        )
        svc.start()
        try:
            _advance(tm, svc, T0 + timedelta(seconds=6))
            wait_for(lambda: gameday.get(store.db, gd.id).announced_at, what="the announcement")
            _advance(tm, svc, T0 + timedelta(seconds=10.5))
            wait_for(lambda: gameday.get(store.db, gd.id).ended_at, what="the game day")
        finally:
            svc.stop()
    assert [c[0].target for c in launcher.calls] == ["qdr"]
    done = gameday.get(store.db, gd.id)
    assert done.status == "interrupted"
    assert done.summary is not None and done.summary["not_started"] == ["tiny"]
    run_fires = [f for f in _fires(store) if f.status not in ("succeeded", "missed")]
    assert [f.status for f in run_fires] == ["interrupted"]


def test_a_closed_launcher_starts_no_child(workdir: Path) -> None:
    """Once the stopping service closed it, a launch is refused, not started unsignalled."""
    from orchestrator.schedule.launcher import ChildLauncher, RunRequest

    launcher = ChildLauncher(load_settings(str(make_project(workdir))))
    launcher.close()
    result = launcher.run(RunRequest("tiny", "lab", "schedule"))
    assert (result.exit_code, result.run_id, launcher.running()) == (3, None, 0)
    assert result.error == "not started: the scheduler is stopping"


def test_a_late_announcement_leaves_a_game_day_that_ran_alone(
    workdir: Path, hook: HookServer
) -> None:
    """The scheduler was down at the announcement and came back after the run had
    begun (both fires due together): the announcement is dropped — it said "game day
    at …" after it, and its write turned a completed game day back into "announced"."""
    from orchestrator.schedule import gameday

    with time_machine.travel(T0, tick=False):
        svc, _launcher, store = _service(workdir, hook)
        gd = gameday.create(
            svc.settings,
            store,
            date="2030-01-07T09:00",
            drills=["qdr"],
            participants=["alice"],
            env="lab",
            notify=[],
            title="late game day",
            announce_before="5s",
            timezone=None,
            yes=False,
            who="tester",
            now=utcnow(),
        )
        assert gameday.run_gameday(svc.ctx, gd.id).value == "succeeded"
        gameday.announce(svc.ctx, gd.id)  # the announcement's thread, last
    done = gameday.get(store.db, gd.id)
    assert (done.status, done.announced_at) == ("completed", None)
    assert hook.events() == ["drill_gameday_summary"]


def test_a_skip_that_repeats_is_one_open_finding(workdir: Path, hook: HookServer) -> None:
    """Every fire finds the environment held by another run: each skip is a fire row,
    but one open finding (and one notification) says so, not one per fire; once it
    is closed, the next skip files it again."""
    from orchestrator.cli import main
    from orchestrator.schedule.launcher import RunResult

    class Busy(RecordingLauncher):
        def run(self, req: object) -> RunResult:
            super().run(req)
            return RunResult(1, None, "drill: error: environment 'lab' is already in use")

    with time_machine.travel(T0, tick=False) as tm:
        svc, _launcher, store = _service(workdir, hook)
        svc.ctx.launcher = Busy(utcnow)
        _add(store, specs.every_spec("10s"))
        svc.start()
        try:
            for k in range(1, 4):
                _advance(tm, svc, T0 + timedelta(seconds=10 * k + 0.5))
                _wait_ended(store, k)
            (found,) = _findings(store, "scheduled_run_skipped")
            assert main(["findings", "close", str(found.id), "--resolution", "moved"]) == 0
            _advance(tm, svc, T0 + timedelta(seconds=40.5))
            _wait_ended(store, 4)
            assert svc.wait_idle(15.0)
        finally:
            svc.stop()
    assert [f.status for f in _fires(store)] == ["skipped"] * 4
    assert [f.status for f in _findings(store, "scheduled_run_skipped")] == ["closed", "open"]
    assert hook.events().count("drill_run_skipped") == 2


def test_a_webhook_that_hangs_holds_no_fire(workdir: Path) -> None:
    """The service's own notifier (drill.yaml `notify:`): a scheduled run started only
    after the start notice's delivery gave up (5 attempts of 5 s against a webhook that
    never answers, ~30 s late) and held its schedule as long after it ended, so that
    the next fires were skipped, each repeat an open finding."""
    release = threading.Event()
    hanging = HookServer(hold=release)
    try:
        with time_machine.travel(T0, tick=False) as tm:
            settings = load_settings(
                str(make_project(workdir, extra=f"notify:\n  - {hanging.url()}\n"))
            )
            store = EvidenceStore(settings.database_url())
            launcher = RecordingLauncher(utcnow)
            svc = SchedulerService(settings, store, launcher=launcher, compliance_every_s=1e9)
            _add(store, specs.every_spec("10s"))
            svc.start()
            try:
                tm.move_to(T0 + timedelta(seconds=10.1))
                svc.tick()
                wait_for(lambda: launcher.calls, what="the scheduled run to start")
                _wait_ended(store, 1)
                assert svc.wait_idle(15.0), "the fire waited for its finish notice"
                assert not hanging.posts  # nothing was answered yet
            finally:
                release.set()
                svc.stop()  # the notices queued go out before the service ends
    finally:
        hanging.close()
    assert _fires(store)[0].status == "succeeded"
    # in order; a start notice held past the client's 5 s timeout (a loaded machine) is
    # posted again, as any retried delivery
    assert list(dict.fromkeys(hanging.events())) == ["drill_run_start", "drill_run_finish"]


def test_a_fire_that_comes_due_while_the_service_stops_is_left_to_the_next_start(
    workdir: Path, hook: HookServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A job due while a stop waited for the drill in flight was taken up by APScheduler's
    loop as the scheduler shut down, handed to the closed pool ('Error submitting job
    … RuntimeError: cannot schedule new futures after shutdown', a traceback per job in
    the service's log) and moved on to its next time: that fire was never run nor
    recorded, by this service or the next."""
    from apscheduler.schedulers.base import STATE_PAUSED

    release = threading.Event()

    class HeldLauncher(RecordingLauncher):
        def run(self, req: Any) -> Any:
            result = super().run(req)
            release.wait(30)
            return result

    with time_machine.travel(T0, tick=False) as tm:
        svc, _, store = _service(workdir, hook)
        svc.ctx.launcher = HeldLauncher(utcnow)
        sid = _add(store, specs.every_spec("10s"))
        svc.start()
        tm.move_to(T0 + timedelta(seconds=10.1))
        svc.tick()
        wait_for(lambda: svc.ctx.launcher.calls, what="the first fire's run")  # type: ignore[attr-defined]
        stopping = threading.Thread(target=svc.stop)
        stopping.start()
        wait_for(lambda: svc._scheduler.state == STATE_PAUSED, what="the stop to pause")
        tm.move_to(T0 + timedelta(seconds=20.1))  # the next fire comes due meanwhile
        release.set()
        stopping.join(30)
        assert not stopping.is_alive()
        assert "Error submitting job" not in caplog.text
        assert [f.scheduled_at for f in _fires(store)] == [T0 + timedelta(seconds=10)]

        again, launcher, _ = _service(workdir, hook)
        again.start()
        try:
            wait_for(lambda: len(_fires(store)) == 2, what="the fire due at the stop")
        finally:
            again.stop()
    due = _fires(store)[1]
    assert (due.schedule_id, due.scheduled_at) == (sid, T0 + timedelta(seconds=20))
    assert due.status == "succeeded" and len(launcher.calls) == 1


def _count_trigger_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many fire times the schedules' triggers compute (APScheduler steps through a
    job's run times one at a time, under its job-store lock: nothing fires meanwhile)."""
    from orchestrator.schedule.aps import ScheduleTrigger

    steps, real = [0], ScheduleTrigger.get_next_fire_time

    def counted(self: ScheduleTrigger, previous: datetime | None, now: datetime) -> Any:
        steps[0] += 1
        return real(self, previous, now)

    monkeypatch.setattr(ScheduleTrigger, "get_next_fire_time", counted)
    return steps


@pytest.mark.parametrize(
    ("spec", "period"),
    [(specs.every_spec("10s"), timedelta(seconds=10)), (specs.cron_spec("* * * * *"), None)],
    ids=["every-10s", "cron-every-minute"],
)
def test_a_job_added_for_a_year_old_schedule_does_not_step_through_its_history(
    workdir: Path, hook: HookServer, monkeypatch: pytest.MonkeyPatch, spec: Any, period: Any
) -> None:
    """A schedule's job added again (its row lost, planted or removed as one that cannot
    be restored, or never stored: no scheduler ran since `schedule add`) started from the
    schedule's creation, and APScheduler stepped through every run time since, under its
    job-store lock: a year of an every-10s schedule is 3 million steps, ~19 s during which
    nothing fired. It now starts from the latest fire due (coalesced into one, fired or
    recorded missed per the misfire grace, as before), at a cost that does not grow with
    the schedule's age."""
    created = T0 - timedelta(days=365)
    with time_machine.travel(created, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        sid = _add(store, spec)
        latest = T0 if period else T0.replace(second=0)  # the last fire due at T0 + 3 s
        tm.move_to(T0 + timedelta(seconds=3))  # no scheduler ran for a year
        steps = _count_trigger_steps(monkeypatch)
        svc.start()
        try:
            wait_for(lambda: _fires(store) and _fires(store)[0].ended_at, what="the fire due")
            after = latest + (period or timedelta(minutes=1))
            wait_for(
                lambda: schedules.stored_next_runs(store.db)[sid] == after, what="its next run"
            )
            assert svc.wait_idle(15.0)
        finally:
            svc.stop()
    assert [(f.scheduled_at, f.status) for f in _fires(store)] == [(latest, "succeeded")]
    assert len(launcher.calls) == 1  # one fire, not a burst of the year's
    assert steps[0] < 500, f"{steps[0]} fire times computed for one job"


def test_a_job_added_again_does_not_take_up_a_fire_already_recorded(
    workdir: Path, hook: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its job lost after its last fire ran (a planted row removed, say), a schedule's job
    starts after that fire: the fire is not handed out again, and its next one runs."""
    created = T0 - timedelta(days=365)
    with time_machine.travel(created, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        sid = _add(store, specs.every_spec("10s"))
        sched = schedules.active(store.db)[0]
        store.db.write(  # the fire at T0 ran, recorded by a scheduler since gone
            ScheduleFire(
                schedule_id=sid,
                target=sched.target,
                env=sched.env,
                scheduled_at=T0,
                claimed_at=T0,
                claimed_by="gone",
                status="succeeded",
                ended_at=T0 + timedelta(seconds=1),
            )
        )
        tm.move_to(T0 + timedelta(seconds=3))
        steps = _count_trigger_steps(monkeypatch)
        svc.start()
        try:
            assert schedules.stored_next_runs(store.db)[sid] == T0 + timedelta(seconds=10)
            assert launcher.calls == []
            _advance(tm, svc, T0 + timedelta(seconds=10.1))
            wait_for(lambda: len(_fires(store)) == 2 and _fires(store)[1].ended_at, what="fire")
        finally:
            svc.stop()
    assert [(f.scheduled_at, f.status) for f in _fires(store)][1:] == [
        (T0 + timedelta(seconds=10), "succeeded")
    ]
    assert len(launcher.calls) == 1
    assert steps[0] < 500, f"{steps[0]} fire times computed for one job"


def test_a_job_kept_while_no_scheduler_ran_for_a_year_does_not_step_through_it(
    workdir: Path, hook: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its row kept in the store while every scheduler was down for a year, a job's next
    run was a year old, and APScheduler stepped from it to now one run time at a time under
    its job-store lock (3 million for an every-10s schedule: ~19 s without a fire) only to
    coalesce them into the last, which runs once within the misfire grace, as before."""
    created = T0 - timedelta(days=365)
    with time_machine.travel(created, tick=False) as tm:
        first, _, store = _service(workdir, hook)
        sid = _add(store, specs.every_spec("10s"))
        first.start()  # stores the job, due a year before T0
        first.stop()
        tm.move_to(T0 + timedelta(seconds=3))
        again, launcher, _ = _service(workdir, hook)
        steps = _count_trigger_steps(monkeypatch)
        again.start()
        try:
            wait_for(lambda: _fires(store) and _fires(store)[0].ended_at, what="the fire due")
            after = T0 + timedelta(seconds=10)
            wait_for(
                lambda: schedules.stored_next_runs(store.db)[sid] == after, what="its next run"
            )
            assert again.wait_idle(15.0)
        finally:
            again.stop()
    assert [(f.scheduled_at, f.status) for f in _fires(store)] == [(T0, "succeeded")]
    assert len(launcher.calls) == 1
    assert steps[0] < 500, f"{steps[0]} fire times computed for one job"


def test_a_schedule_this_drill_cannot_build_leaves_the_others_firing(
    workdir: Path, hook: HookServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The schedule table is shared by every scheduler of a group: a row one of them cannot
    build a trigger of (a time zone its tzdata lacks, a kind from a newer drill) made
    `drill scheduler run` stop at its start ('unknown time zone …'), or, added while it
    ran, fail each poll before the schedules after it got their jobs: nothing of theirs
    fired. The row is now logged once and skipped; the others fire."""
    from orchestrator.schedule.records import Schedule

    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        store.db.write(
            Schedule(
                id="s-elsewhere",
                target="tiny",
                env="lab",
                kind="cron",
                expr="0 9 * * *",
                timezone="Mars/Olympus_Mons",
                start_at=T0,
                created_by="a newer host",
                created_at=T0 - timedelta(seconds=1),
            )
        )
        sid = _add(store, specs.every_spec("10s"))
        svc.start()
        try:
            for n in (1, 2):
                _advance(tm, svc, T0 + timedelta(seconds=10 * n + 0.1))
                wait_for(lambda n=n: len(launcher.calls) == n, what=f"fire {n}")  # type: ignore[misc]
        finally:
            svc.stop()
    assert {f.schedule_id for f in _fires(store)} == {sid}
    refused = [r.getMessage() for r in caplog.records if "s-elsewhere" in r.getMessage()]
    assert refused == [
        "schedule s-elsewhere (run tiny@lab) cannot be scheduled by this drill: "
        "unknown time zone 'Mars/Olympus_Mons'; the other schedules go on"
    ]


def test_a_one_shot_added_back_while_its_fire_starts_is_not_skipped_by_itself(
    workdir: Path, hook: HookServer
) -> None:
    """APScheduler removes a one-shot's job as it hands out its fire; a poll's sync in the
    moment before that fire claimed its row (a loaded machine, a sibling scheduler) saw no
    job and no fire and added the job back, due. Handed out again while its fire was in
    flight, it was 'skipped: previous fire of this schedule still running' — recorded first,
    that skip took the claim, and the fire itself then lost it: a game day's announcement or
    run (seen as a flaky test_gameday_is_announced_run_and_summarised) never happened."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED

    held, release = threading.Event(), threading.Event()
    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        sid = _add(store, specs.at_spec("+10s", None, utcnow()))
        svc.start()
        handed: list[int] = []  # APScheduler's events: submitted, or skipped as running
        svc._scheduler.add_listener(
            lambda e: handed.append(e.code) if e.job_id == sid else None,
            EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES,
        )
        reload = svc.reload_windows

        def hold_fire_before_its_claim() -> None:  # the fire's first step
            if threading.current_thread().name.startswith("drill-fire"):
                held.set()
                release.wait(30)
            reload()

        svc.reload_windows = hold_fire_before_its_claim  # type: ignore[method-assign]
        try:
            _advance(tm, svc, T0 + timedelta(seconds=10.1))
            assert held.wait(15)
            wait_for(lambda: sid not in schedules.stored_next_runs(store.db), what="job handed out")
            svc.tick()  # the sync adds it back: no job, no fire yet; handed out again
            wait_for(lambda: len(handed) == 2, what="the job handed out again")
            release.set()
            wait_for(lambda: _fires(store) and _fires(store)[0].ended_at, what="the fire")
            assert svc.wait_idle(15.0)
        finally:
            release.set()
            svc.stop()
    assert [(f.scheduled_at, f.status) for f in _fires(store)] == [
        (T0 + timedelta(seconds=10), "succeeded")
    ]
    assert len(launcher.calls) == 1
