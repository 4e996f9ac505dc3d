"""Blackout windows (change freezes) from drill.yaml.

A scheduled fire whose *scheduled* time falls inside a window is skipped and the skip
is recorded (fire row + finding): an auditor sees that the drill did not happen and
why. Windows come in two shapes::

    blackout_windows:
      - {name: year-end freeze, start: 2026-12-20, end: 2027-01-04}     # fixed dates
      - {name: release, start: 2026-11-30T18:00, duration: 6h, timezone: Europe/Paris}
      - {name: weekends, start: "0 0 * * 6", duration: 2d}               # recurring (cron)

A date-only ``end`` is inclusive (the whole day). All problems are reported at once,
each with drill.yaml's file:line.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config import BlackoutWindow, Settings
from orchestrator.durations import parse_duration
from orchestrator.errors import DefinitionError, Problem, UsageError
from orchestrator.schedule import specs

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger


@dataclass(frozen=True)
class Window:
    """A validated window: fixed ``[start, end)`` or cron starts lasting ``duration``."""

    name: str
    start: datetime | None = None
    end: datetime | None = None
    trigger: BaseTrigger | None = None
    duration: timedelta | None = None

    def contains(self, at: datetime) -> bool:
        if self.trigger is not None and self.duration is not None:
            # inside iff some window start lies in (at - duration, at]
            first = specs.next_fire(self.trigger, at - self.duration + timedelta(microseconds=1))
            return first is not None and first <= at
        assert self.start is not None and self.end is not None
        return self.start <= at < self.end


def _is_cron(text: str) -> bool:
    return len(text.split()) == 5 or text.strip().lstrip("@").lower() in specs.ALIASES


def _date_only(text: str) -> bool:
    return len(text.strip()) == 10 and "T" not in text


def parse_window(w: BlackoutWindow) -> Window:
    """One window; raise UsageError saying what is wrong with it."""
    tz = specs.zone(w.timezone)
    duration: timedelta | None = None
    if w.duration is not None:
        try:
            duration = timedelta(seconds=parse_duration(w.duration))
        except ValueError as exc:
            raise UsageError(f"duration: {exc}") from None
    if _is_cron(w.start):
        if duration is None or w.end is not None:
            raise UsageError("a recurring (cron) window needs `duration` and no `end`")
        spec = specs.cron_spec(w.start, tz.key)
        trigger = specs.build_trigger(spec.kind, spec.expr, spec.timezone, datetime.now(tz))
        return Window(w.name, trigger=trigger, duration=duration)
    start = specs.parse_instant(w.start, tz, "start")
    if (w.end is None) == (duration is None):
        raise UsageError("a window needs exactly one of `end` and `duration`")
    if w.end is not None:
        end = specs.parse_instant(w.end, tz, "end")
        if _date_only(w.end):
            end += timedelta(days=1)
    else:
        assert duration is not None
        end = start + duration
    if end <= start:
        raise UsageError("the window ends before it starts")
    return Window(w.name, start=start, end=end)


def load_windows(settings: Settings) -> list[Window]:
    """Every window of drill.yaml, or a DefinitionError listing every bad one."""
    windows: list[Window] = []
    problems: list[Problem] = []
    doc: Any = None
    for i, raw in enumerate(settings.blackout_windows):
        try:
            windows.append(parse_window(raw))
        except UsageError as exc:
            if doc is None and settings.source:
                from orchestrator.yamlsrc import load_file

                doc = load_file(Path(settings.source))
            line = doc.line_of(("blackout_windows", i)) if doc is not None else None
            problems.append(
                Problem(
                    f"blackout window {raw.name!r}: {exc.message}",
                    settings.source,
                    line,
                    f"blackout_windows[{i}]",
                )
            )
    if problems:
        raise DefinitionError(problems, "fix `blackout_windows:` in drill.yaml")
    return windows


def active_window(windows: list[Window], at: datetime) -> Window | None:
    """The first window containing ``at``, if any."""
    return next((w for w in windows if w.contains(at)), None)


class WindowsWatch:
    """Says when drill.yaml's blackout windows changed, with the new ones.

    The scheduler service runs for months; an emergency change freeze is added to
    drill.yaml while it runs. A file that no longer loads changes nothing (logged):
    the windows in force stay in force."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self._seen = self._key()
        self._lock = threading.Lock()

    def _key(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.source) if self.source else None
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size) if st else None

    def changed(self) -> list[Window] | None:
        """The windows now, if the file changed since last asked (and loads)."""
        key = self._key()
        with self._lock:
            if key == self._seen:
                return None
            self._seen = key
            from orchestrator.config import load_settings
            from orchestrator.errors import DrillError
            from orchestrator.secrets import redact_text

            try:
                return load_windows(load_settings(self.source))
            except DrillError as exc:
                logging.getLogger("drill.scheduler").error(
                    "drill.yaml changed but cannot be read; the blackout windows in force stay: %s",
                    redact_text(exc.message),
                )
                return None
