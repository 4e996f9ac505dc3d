"""Schedule expressions → APScheduler 3.x triggers, and fire-time arithmetic.

Three forms, as on the command line: ``--cron EXPR`` (five fields, or an alias such
as ``quarterly``), ``--every 30s|5m|1h`` and ``--at TIME`` (one shot). The triggers
are APScheduler's own, so what ``drill schedule list`` predicts is exactly what the
scheduler will do. Interval schedules are anchored at their ``start_at``: every
scheduler computes the same fire instants, which the exactly-once claim relies on.

APScheduler is imported inside the functions (keeps ``drill --help`` fast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.durations import check_date, parse_duration
from orchestrator.errors import UsageError
from orchestrator.schedule.records import ScheduleKind

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

#: Cron aliases; ``quarterly`` is the first day of each calendar quarter, so the
#: periods between fires are exactly the quarters auditors ask about.
ALIASES = {
    "yearly": "0 0 1 1 *",
    "annually": "0 0 1 1 *",
    "quarterly": "0 0 1 1,4,7,10 *",
    "monthly": "0 0 1 * *",
    "weekly": "0 0 * * 0",
    "daily": "0 0 * * *",
    "hourly": "0 * * * *",
}
MIN_INTERVAL_S = 1.0
#: Five cron fields have no year: one that fires at all fires within 8 years of any date.
_CRON_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    """A validated schedule expression, normalised for storage."""

    kind: ScheduleKind
    expr: str  # 5-field cron | interval seconds | ISO 8601 UTC instant
    timezone: str = "UTC"
    alias: str | None = None

    def describe(self) -> str:
        if self.kind is ScheduleKind.INTERVAL:
            return f"every {_fmt_seconds(float(self.expr))}"
        if self.kind is ScheduleKind.DATE:
            return f"once at {self.expr}"
        label = self.alias or self.expr
        return f"cron {label}" + ("" if self.timezone == "UTC" else f" ({self.timezone})")


_UNIT_SIZES = (("d", 86400), ("h", 3600), ("m", 60))


def _fmt_seconds(s: float) -> str:
    """``5m``, ``90m``, ``30d 1m 1s``: the interval to the second (``{:g}`` kept six
    digits: 30d 1m 1s read '43201m')."""
    for unit, size in _UNIT_SIZES:
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    if s < 60 or not s.is_integer():
        return f"{_plain(s)}s"
    parts, rest = [], int(s)
    for unit, size in (*_UNIT_SIZES, ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts)


def _plain(s: float) -> str:
    """A number of seconds exactly, without exponent: ``3600``, ``1.5``, ``2592061``."""
    return str(int(s)) if s.is_integer() else repr(s)


def zone(name: str | None) -> ZoneInfo:
    """A time zone by IANA name; a clear usage error otherwise."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r}",
            "use an IANA name such as UTC, Europe/Paris, America/New_York",
        ) from None


_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _dow_to_aps(field: str) -> str:
    """Cron's day-of-week (0/7 = Sunday) → APScheduler 3.x names (its 0 is Monday).

    ``CronTrigger.from_crontab`` in 3.x passes the numbers through, so ``* * * * 6``
    would fire on Sundays. Numbers, ranges and steps are expanded to day names."""
    if field in ("*", "?"):
        return "*"
    names: list[str] = []
    for part in field.lower().split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = _day_number(a), _day_number(b)
        else:
            lo = hi = _day_number(rng)
            if step_s:
                hi = 6
        if hi < lo or step < 1:
            raise ValueError(f"bad day-of-week {part!r}")
        names += [_DAYS[d % 7] for d in range(lo, hi + 1, step)]
    return ",".join(dict.fromkeys(names))


def _day_number(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _DAYS:
        return _DAYS.index(token[:3])
    raise ValueError(f"bad day-of-week {token!r}")


def crontab_trigger(expr: str, tz: ZoneInfo) -> BaseTrigger:
    """Five cron fields → APScheduler CronTrigger with cron's day-of-week meaning, cron's
    either-day rule, and cron's single fire of a fixed-time job when clocks go back
    (:mod:`.crontrigger`)."""
    from orchestrator.schedule.crontrigger import OnceOnRepeatCron as CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, dow = fields
    days = _dow_to_aps(dow)

    def cron(day: str, days: str) -> BaseTrigger:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=days, timezone=tz
        )

    if not day.startswith(("*", "?")) and not dow.startswith(("*", "?")):
        # cron runs the job when the day of the month *or* the day of the week matches;
        # APScheduler's CronTrigger only when both do ('0 9 13 * 5': cron, every 13th and
        # every Friday; APScheduler, Friday the 13th alone, a few times a year)
        from apscheduler.triggers.combining import OrTrigger

        return OrTrigger([cron(day, "*"), cron("*", days)])
    return cron(day, days)


def cron_spec(expr: str, timezone: str | None = None) -> Spec:
    """Validate a cron expression (or alias such as ``quarterly``)."""
    raw = expr.strip()
    alias = raw.lstrip("@").lower()
    normal = ALIASES.get(alias, raw)
    tz = zone(timezone)
    try:
        trigger = crontab_trigger(normal, tz)
    except ValueError as exc:
        raise UsageError(
            f"invalid cron expression {expr!r}: {exc}",
            "use five fields 'minute hour day month weekday' (e.g. '0 6 1 */3 *') or one of "
            + ", ".join(sorted(ALIASES)),
        ) from None
    if next_fire(trigger, _CRON_EPOCH) is None:  # e.g. 30 February: saved, never run
        raise UsageError(
            f"cron expression {expr!r} never fires: no date has that day and month",
            "check the day and month fields (April, June, September and November have "
            "30 days, February 29 in leap years)",
        )
    return Spec(ScheduleKind.CRON, normal, tz.key, alias if alias in ALIASES else None)


def every_spec(text: str) -> Spec:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"invalid --every {text!r}: {exc}") from None
    if seconds < MIN_INTERVAL_S:
        raise UsageError(f"--every {text!r} is too short", "the shortest interval is 1s")
    return Spec(ScheduleKind.INTERVAL, _plain(seconds))


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def at_spec(text: str, timezone: str | None, now: datetime) -> Spec:
    """``--at``: ISO date-time (in ``timezone`` unless it has an offset), ``HH:MM``
    (the next such time), or ``+DURATION`` from now. Must lie in the future."""
    tz = zone(timezone)
    raw = text.strip()
    when: datetime
    if raw.startswith("+"):
        try:
            when = now + timedelta(seconds=parse_duration(raw[1:]))
        except ValueError as exc:
            raise UsageError(f"invalid --at {text!r}: {exc}") from None
    elif (m := _CLOCK.match(raw)) is not None:
        local_now = now.astimezone(tz)
        try:
            clock = time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
        except ValueError as exc:
            raise UsageError(f"invalid --at {text!r}: {exc}") from None
        when = datetime.combine(local_now.date(), clock, tz)
        if when <= local_now:
            when = datetime.combine(local_now.date() + timedelta(days=1), clock, tz)
    else:
        when = parse_instant(raw, tz, "--at")
        if when <= now:
            raise UsageError(
                f"--at {text} is in the past",
                "give a future time, e.g. --at +10m or --at 2030-01-15T09:00",
            )
    return Spec(ScheduleKind.DATE, when.astimezone(UTC).isoformat(), tz.key)


def parse_instant(raw: str, tz: ZoneInfo, what: str) -> datetime:
    """An ISO date or date-time; naive values are read in ``tz``."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(raw), time(0))
        except ValueError:
            raise UsageError(
                f"invalid {what} {raw!r}", "use ISO 8601, e.g. 2030-01-15T09:00 or 2030-01-15"
            ) from None
    value = value if value.tzinfo else value.replace(tzinfo=tz)
    try:
        check_date(value, what)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return value


def build_trigger(kind: str, expr: str, timezone: str, start_at: datetime) -> BaseTrigger:
    """The APScheduler trigger of a stored schedule."""
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    tz = zone(timezone)
    if kind == ScheduleKind.CRON:
        return crontab_trigger(expr, tz)
    if kind == ScheduleKind.INTERVAL:
        return IntervalTrigger(seconds=float(expr), start_date=start_at, timezone=tz)
    if kind == ScheduleKind.DATE:
        return DateTrigger(run_date=datetime.fromisoformat(expr), timezone=tz)
    raise UsageError(f"unknown schedule kind {kind!r}")


def next_fire(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The first fire at or after ``now`` (UTC), as the scheduler would compute it."""
    nxt = trigger.get_next_fire_time(None, now)
    return nxt.astimezone(UTC) if nxt else None


def fire_after(trigger: BaseTrigger, moment: datetime) -> datetime | None:
    """The first fire strictly after ``moment`` (UTC)."""
    nxt = trigger.get_next_fire_time(None, moment + timedelta(microseconds=1))
    return nxt.astimezone(UTC) if nxt else None


def latest_fire(trigger: BaseTrigger, since: datetime, now: datetime) -> datetime | None:
    """The last fire at or after ``since`` and at or before ``now`` (UTC), ``None`` if none.

    Found by halving ``[since, now]`` — some 45 fire-time computations for a year —
    where stepping fire by fire (APScheduler's way to a job's run times) is one per fire:
    3 million for a year of an every-10s schedule. Relies only on the first fire at or
    after a moment, which every trigger answers."""
    best = trigger.get_next_fire_time(None, since)
    if best is None or best > now:
        return None
    # best is a fire <= now with no later fire <= lo; none in [hi, now] (the first at or
    # after hi is later than now)
    step = timedelta(microseconds=1)
    lo, hi = best, now + step
    while hi - lo > step:
        mid = lo + (hi - lo) / 2
        found = trigger.get_next_fire_time(None, mid)
        if found is not None and found <= now:
            best, lo = max(best, found), max(mid, found)  # a one-shot answers before mid
        else:
            hi = mid
    return best.astimezone(UTC)
