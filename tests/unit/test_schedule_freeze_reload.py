"""A change freeze added to drill.yaml while the scheduler service runs is honoured.

Blackout windows were read once, when the service started: an emergency freeze added
to drill.yaml (the documented way) did not stop the next scheduled drill. Controlled
clock, real APScheduler and store; the launcher seam records what would run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine

from orchestrator.schedule import specs
from orchestrator.schedule.records import ScheduleFire
from tests.unit.test_schedule_firing import T0, _add, _advance, _service
from tests.unit.test_schedule_support import HookServer, wait_for

FREEZE = (
    "blackout_windows:\n"
    "  - {name: emergency freeze, start: 2030-01-07T08:00, end: 2030-01-08T08:00}\n"
)


def _fires(store: object) -> list[ScheduleFire]:
    return store.db.records(ScheduleFire, order="scheduled_at")  # type: ignore[attr-defined]


def test_a_freeze_added_while_running_skips_the_next_fire(workdir: Path, hook: HookServer) -> None:
    with time_machine.travel(T0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        _add(store, specs.cron_spec("0 9 * * *"))
        svc.start()
        try:
            config = workdir / "drill.yaml"
            config.write_text(config.read_text() + FREEZE)  # the operator adds a freeze
            _advance(tm, svc, T0 + timedelta(seconds=11))  # 09:00: inside the freeze
            wait_for(lambda: _fires(store) and _fires(store)[0].ended_at, what="the fire")
            # a broken edit keeps the windows in force (and the service running)
            config.write_text(config.read_text() + "blackout_windows: [oops\n")
            _advance(tm, svc, datetime(2030, 1, 8, 9, 0, 1, tzinfo=UTC))  # after the freeze
            wait_for(lambda: len(launcher.calls) == 1, what="the fire after the freeze")
        finally:
            svc.stop()
    first, second = _fires(store)
    assert (first.status, first.reason) == ("skipped", "blackout window 'emergency freeze'")
    assert second.status == "succeeded"
