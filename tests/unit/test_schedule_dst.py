"""Cron schedules in a time zone across daylight-saving changes: what cron does.

When clocks go back an hour repeats; a drill scheduled at 02:30 Europe/Paris ran at
02:30 CEST and again at 02:30 CET, an hour apart (APScheduler's CronTrigger matches the
wall clock twice). Cron runs fixed-time jobs once and wildcard-hour jobs as normal.
When clocks go forward the missing 02:30 fires once, at 03:30.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from orchestrator.schedule import schedules, specs
from orchestrator.schedule.records import ScheduleFire, ScheduleKind
from tests.unit.test_schedule_firing import _add, _advance, _service
from tests.unit.test_schedule_support import HookServer, wait_for


def _fires(expr: str, tz: str, start: datetime, n: int) -> list[str]:
    trigger = specs.build_trigger(ScheduleKind.CRON, expr, tz, start)
    out, at = [], start
    for _ in range(n):
        nxt = specs.fire_after(trigger, at)
        assert nxt is not None
        out.append(f"{nxt:%m-%d %H:%M}")
        at = nxt
    return out


@pytest.mark.parametrize(
    ("expr", "tz", "start", "expected"),
    [
        # Paris leaves summer time on 2027-10-31 at 03:00 CEST (02:00-03:00 repeats)
        (
            "30 2 * * *",
            "Europe/Paris",
            datetime(2027, 10, 30, tzinfo=UTC),
            ["10-30 00:30", "10-31 00:30", "11-01 01:30"],
        ),
        (
            "30 2 * * 0",
            "Europe/Paris",
            datetime(2027, 10, 25, tzinfo=UTC),
            ["10-31 00:30", "11-07 01:30"],
        ),
        # New York on 2027-11-07: 01:00-02:00 repeats
        (
            "30 1 * * *",
            "America/New_York",
            datetime(2027, 11, 6, tzinfo=UTC),
            ["11-06 05:30", "11-07 05:30", "11-08 06:30"],
        ),
        # a fixed hour next to the repeated one still fires (03:00 CET)
        (
            "0 2,3 * * *",
            "Europe/Paris",
            datetime(2027, 10, 30, 23, tzinfo=UTC),
            ["10-31 00:00", "10-31 02:00", "11-01 01:00"],
        ),
        # a wildcard hour runs in both copies of the repeated hour, as in cron
        (
            "15 * * * *",
            "Europe/Paris",
            datetime(2027, 10, 30, 23, 30, tzinfo=UTC),
            ["10-31 00:15", "10-31 01:15", "10-31 02:15"],
        ),
        # summer time starts 2027-03-28 at 02:00 CET: 02:30 does not exist, 03:30 once
        (
            "30 2 * * *",
            "Europe/Paris",
            datetime(2027, 3, 27, tzinfo=UTC),
            ["03-27 01:30", "03-28 01:30", "03-29 00:30"],
        ),
    ],
)
def test_cron_fires_like_cron_across_dst(
    expr: str, tz: str, start: datetime, expected: list[str]
) -> None:
    assert _fires(expr, tz, start, len(expected)) == expected


def test_the_service_runs_a_daily_drill_once_on_the_night_clocks_go_back(
    workdir: Path, hook: HookServer
) -> None:
    t0 = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
    first, next_day = (
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        datetime(2027, 11, 1, 1, 30, tzinfo=UTC),
    )
    with time_machine.travel(t0, tick=False) as tm:
        svc, launcher, store = _service(workdir, hook)
        sid = _add(store, specs.cron_spec("30 2 * * *", "Europe/Paris"))
        svc.start()
        try:
            _advance(tm, svc, first + timedelta(seconds=5))  # 02:30 CEST
            wait_for(lambda: len(launcher.calls) == 1, what="the 02:30 CEST fire")
            # APScheduler stores the job's next run: the next day, not 02:30 CET
            wait_for(
                lambda: schedules.stored_next_runs(store.db).get(sid) not in (None, first),
                what="the next run to be stored",
            )
            assert schedules.stored_next_runs(store.db)[sid] == next_day
            _advance(tm, svc, next_day + timedelta(seconds=5))
            wait_for(lambda: len(launcher.calls) == 2, what="the next day's fire")
            assert svc.wait_idle(15.0)
        finally:
            svc.stop()
    fires: list[ScheduleFire] = store.db.records(
        ScheduleFire, "schedule_id = ?", (sid,), "scheduled_at"
    )
    assert [(f.scheduled_at, f.status) for f in fires] == [
        (first, "succeeded"),
        (next_day, "succeeded"),
    ]
