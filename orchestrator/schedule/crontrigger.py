"""Cron with cron's answer to clocks going back: a fixed-time job fires once.

APScheduler's CronTrigger matches wall-clock fields, so when a time zone leaves
daylight saving time and an hour repeats, a job at 02:30 (Europe/Paris, last Sunday
of October) matches twice — at 02:30 CEST and again at 02:30 CET — and a daily drill
would run twice within the hour. Vixie cron runs such *fixed-time* jobs once, and jobs
whose hour is a wildcard (``*/15 * * * *``) as normal; this trigger does the same.
When clocks go forward, the skipped wall time is APScheduler's: the fire moves to the
first time that exists (02:30 becomes 03:30), once.

Its own module so that the CLI imports APScheduler only where a schedule is built.
"""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger


class OnceOnRepeatCron(CronTrigger):
    """A CronTrigger that skips the repeat of a fixed wall-clock time."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        while nxt is not None and self._is_repeat(nxt):
            # searched again from where the repeated hour ends (APScheduler, asked from
            # inside it, answers the same repeated time again)
            nxt = super().get_next_fire_time(None, self._repeat_end(nxt))
        return nxt

    def _is_repeat(self, moment: datetime) -> bool:
        """The second occurrence of a repeated wall time, for a job with a fixed hour."""
        hour = next(field for field in self.fields if field.name == "hour")
        if str(hour) == "*":  # hour wildcard: runs every hour, repeats too
            return False
        local = moment.astimezone(self.timezone)
        return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()

    def _repeat_end(self, moment: datetime) -> datetime:
        """The first whole second after ``moment`` that is no longer a repeated time."""
        local = moment.astimezone(self.timezone)
        span = local.replace(fold=0).utcoffset() - local.utcoffset()  # type: ignore[operator]
        lo, hi = int(moment.timestamp()), int((moment + span).timestamp()) + 1
        while hi - lo > 1:  # lo is in the repeat, hi is past it
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.timezone).fold == 1:
                lo = mid
            else:
                hi = mid
        return datetime.fromtimestamp(hi, self.timezone)
