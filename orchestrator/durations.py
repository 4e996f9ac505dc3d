"""Human durations (``90s``, ``5m``, ``4h``, ``1d``, plain numbers = seconds)."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``; raise ValueError with the accepted forms otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
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
    return total


def format_duration(seconds: float | None) -> str:
    """Compact display: ``0.42s``, ``1m 05s``, ``2h 03m``."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
