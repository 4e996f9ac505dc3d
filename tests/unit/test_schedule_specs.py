"""Schedule expressions and blackout windows: parsing, next fires, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.config import BlackoutWindow, load_settings
from orchestrator.errors import DefinitionError, UsageError
from orchestrator.schedule import specs
from orchestrator.schedule.blackout import active_window, load_windows, parse_window
from orchestrator.schedule.records import ScheduleKind

NOW = datetime(2030, 2, 10, 12, 0, tzinfo=UTC)


def test_quarterly_alias_fires_on_quarter_starts() -> None:
    spec = specs.cron_spec("quarterly")
    assert (spec.kind, spec.expr, spec.alias) == (
        ScheduleKind.CRON,
        "0 0 1 1,4,7,10 *",
        "quarterly",
    )
    trig = specs.build_trigger(spec.kind, spec.expr, spec.timezone, NOW)
    assert specs.next_fire(trig, NOW) == datetime(2030, 4, 1, tzinfo=UTC)
    assert specs.fire_after(trig, datetime(2030, 4, 1, tzinfo=UTC)) == datetime(
        2030, 7, 1, tzinfo=UTC
    )


def test_cron_in_a_time_zone() -> None:
    spec = specs.cron_spec("0 9 * * *", "Europe/Paris")
    trig = specs.build_trigger(spec.kind, spec.expr, spec.timezone, NOW)
    assert specs.next_fire(trig, NOW) == datetime(2030, 2, 11, 8, 0, tzinfo=UTC)  # CET = +1


def test_interval_is_anchored_so_every_scheduler_agrees() -> None:
    spec = specs.every_spec("5m")
    assert spec.expr == "300"
    start = NOW + timedelta(seconds=300)
    trig = specs.build_trigger(spec.kind, spec.expr, "UTC", start)
    assert specs.next_fire(trig, NOW) == start
    assert specs.next_fire(trig, start + timedelta(seconds=1)) == start + timedelta(seconds=300)


def test_at_forms() -> None:
    assert specs.at_spec("+90s", None, NOW).expr == "2030-02-10T12:01:30+00:00"
    assert specs.at_spec("11:30", None, NOW).expr == "2030-02-11T11:30:00+00:00"  # tomorrow
    assert (
        specs.at_spec("2030-03-01T10:00", "America/New_York", NOW).expr
        == "2030-03-01T15:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: specs.cron_spec("61 * * * *"), "invalid cron expression '61 * * * *'"),
        (lambda: specs.cron_spec("every day"), "invalid cron expression"),
        (lambda: specs.every_spec("500ms"), "too short"),
        (lambda: specs.every_spec("soon"), "invalid --every 'soon'"),
        (lambda: specs.at_spec("2020-01-01T00:00", None, NOW), "is in the past"),
        (lambda: specs.at_spec("tomorrow-ish", None, NOW), "invalid --at"),
        (lambda: specs.cron_spec("0 9 * * *", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_expressions_are_usage_errors(call: object, needle: str) -> None:
    with pytest.raises(UsageError) as exc:
        call()  # type: ignore[operator]
    assert needle in exc.value.message
    assert exc.value.exit_status == 2


def test_fixed_and_recurring_blackout_windows() -> None:
    fixed = parse_window(BlackoutWindow(name="year end", start="2030-12-20", end="2031-01-04"))
    assert fixed.contains(datetime(2031, 1, 4, 23, 59, tzinfo=UTC))  # date-only end inclusive
    assert not fixed.contains(datetime(2031, 1, 5, 0, 0, tzinfo=UTC))
    release = parse_window(
        BlackoutWindow(
            name="release", start="2030-02-10T18:00", duration="6h", timezone="Europe/Paris"
        )
    )
    assert release.contains(datetime(2030, 2, 10, 17, 0, tzinfo=UTC))
    assert not release.contains(datetime(2030, 2, 10, 23, 0, tzinfo=UTC))
    weekends = parse_window(BlackoutWindow(name="weekends", start="0 0 * * 6", duration="2d"))
    assert weekends.contains(datetime(2030, 2, 9, 10, tzinfo=UTC))  # Saturday
    assert weekends.contains(datetime(2030, 2, 10, 23, tzinfo=UTC))  # Sunday
    assert not weekends.contains(datetime(2030, 2, 11, 0, 0, 1, tzinfo=UTC))  # Monday
    assert active_window([fixed, weekends], datetime(2030, 2, 9, tzinfo=UTC)) is weekends


def test_bad_windows_are_all_reported_with_file_and_line(workdir: Path) -> None:
    (workdir / "drill.yaml").write_text(
        "blackout_windows:\n"
        "  - {name: ok, start: 2030-12-20, end: 2031-01-04}\n"
        "  - {name: no end, start: 2030-12-20}\n"
        "  - {name: cron without duration, start: '0 0 * * 6'}\n"
    )
    settings = load_settings()
    with pytest.raises(DefinitionError) as exc:
        load_windows(settings)
    text = exc.value.message
    assert "drill.yaml:3: blackout window 'no end': a window needs exactly one of" in text
    assert "drill.yaml:4: blackout window 'cron without duration'" in text
    assert len(exc.value.problems) == 2


@pytest.mark.parametrize(
    ("dow", "expected"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("6", "sat"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("*/2", "sun,tue,thu,sat"),
        ("sat,sun", "sat,sun"),
        ("*", "*"),
        ("5/1", "fri,sat"),
    ],
)
def test_cron_day_of_week_means_what_cron_means(dow: str, expected: str) -> None:
    assert specs._dow_to_aps(dow) == expected


def test_weekly_alias_fires_on_sunday() -> None:
    spec = specs.cron_spec("weekly")
    trig = specs.build_trigger(spec.kind, spec.expr, "UTC", NOW)
    nxt = specs.next_fire(trig, datetime(2030, 2, 11, tzinfo=UTC))  # a Monday
    assert nxt == datetime(2030, 2, 17, tzinfo=UTC) and nxt.strftime("%a") == "Sun"


@pytest.mark.parametrize(
    ("kind", "expr", "tz"),
    [
        ("cron", "30 2 * * *", "Europe/Paris"),  # across both DST changes of 2030
        ("cron", "*/7 1-3 * * *", "Europe/Paris"),
        ("cron", "0 9 13 * 5", "UTC"),  # cron's either-day rule (two triggers)
        ("interval", "4000.5", "UTC"),
        ("date", "2030-03-31T01:30:00+00:00", "UTC"),
    ],
)
def test_latest_fire_is_the_last_one_stepping_would_reach(kind: str, expr: str, tz: str) -> None:
    """What a job added again starts from: the last fire due, as APScheduler's stepping
    from the first one finds it, without stepping."""
    start = datetime(2030, 3, 1, tzinfo=UTC)
    trigger = specs.build_trigger(kind, expr, tz, start)
    fires, at = [], trigger.get_next_fire_time(None, start)
    while at is not None and at < datetime(2030, 11, 1, tzinfo=UTC):
        fires.append(at.astimezone(UTC))
        at = trigger.get_next_fire_time(at, at)
    assert fires
    some = fires[:: max(1, len(fires) // 40)] + fires[-1:]
    for now in [start - timedelta(days=1), *some, *(f + timedelta(seconds=59) for f in some)]:
        expected = max((f for f in fires if f <= now), default=None)
        assert specs.latest_fire(trigger, start, now) == expected, now
