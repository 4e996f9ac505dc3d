"""Human durations (``90s``, ``5m``, ``4h``, ``1d``, plain numbers = seconds), and the
range of durations and dates drill accepts anywhere (options, definitions, config).

Out-of-range values are refused where they are read, with the option or field named:
``--every 99999999999999999999d`` or ``--period 9999-Q4`` would otherwise overflow
deep inside datetime arithmetic or a database driver.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")

MAX_DURATION_S = 100 * 365 * 86400.0  # longer than any drill, schedule or timeout
#: dates drill accepts: from the Unix epoch to one year before datetime's end, so that
#: "the day after", "the next quarter" and time zones never overflow
EARLIEST_YEAR, LATEST_YEAR = 1970, 9998


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``; raise ValueError with the accepted forms otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        if not math.isfinite(value) or value > MAX_DURATION_S:
            raise ValueError("a duration cannot be longer than 100 years")
        return float(value)
    total = 0.0
    parts = str(value).split()
    if not parts:
        raise ValueError("empty duration")
    for part in parts:
        match = _PATTERN.match(part)
        if not match:
            raise ValueError(f"invalid duration {value!r}; use e.g. 500ms, 90s, 5m, 4h, 1d")
        total += float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(total) or total > MAX_DURATION_S:
        raise ValueError(f"duration {value!r} is longer than 100 years")
    return total


def check_date(value: date | datetime, what: str) -> None:
    """Raise ValueError unless ``value`` (a date, or a date-time in any zone) lies in the
    years drill accepts; ``what`` names the option or field in the message."""
    try:
        year = value.astimezone(UTC).year if isinstance(value, datetime) else value.year
    except (OverflowError, ValueError):
        year = value.year + (1 if value.year > EARLIEST_YEAR else -1)
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(
            f"{what} {value.isoformat()} is out of range: drill accepts dates "
            f"from {EARLIEST_YEAR} to {LATEST_YEAR}"
        )


def format_duration(seconds: float | None) -> str:
    """Compact display: ``5ms``, ``0.42s``, ``1m 05s``, ``2h 03m`` (an objective of
    ``1ms`` read ``0.00s``: "RTO 1.27s exceeds objective 0.00s")."""
    if seconds is None:
        return "—"
    if 0 < seconds < 0.01:
        return f"{seconds * 1000:.3g}ms"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
