"""Schedules: whether a rule is armed at a moment, in the node's time zone.

A daily window that runs past midnight belongs to the day it starts on: with weekdays = ["fri"]
and hours = ["22:00-06:00"], Saturday 02:00 is armed and Friday 02:00 is not.  Seasons are
inclusive and may run over new year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..config.rules import ScheduleConfig

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _md(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


@dataclass(frozen=True)
class Schedule:
    hours: tuple[tuple[int, int], ...]  # (start, end) minutes of the day; end <= start runs past midnight
    dates: tuple[tuple[tuple[int, int], tuple[int, int]], ...]  # ((m, d), (m, d)) inclusive
    weekdays: frozenset[int]  # 0 = Monday
    tz: ZoneInfo

    @classmethod
    def from_config(cls, config: ScheduleConfig | None, timezone: str) -> Schedule:
        tz = ZoneInfo(timezone)
        if config is None:
            return cls((), (), frozenset(), tz)
        hours = tuple((_minutes(h[:5]), _minutes(h[6:])) for h in config.hours)
        dates = tuple((_md(d[:5]), _md(d[7:])) for d in config.dates)
        weekdays = frozenset(_WEEKDAYS.index(d) for d in config.weekdays)
        return cls(hours, dates, weekdays, tz)

    @property
    def always(self) -> bool:
        return not (self.hours or self.dates or self.weekdays)

    def _day_ok(self, day: date) -> bool:
        if self.weekdays and day.weekday() not in self.weekdays:
            return False
        if self.dates:
            md = (day.month, day.day)
            if not any((a <= md <= b) if a <= b else (md >= a or md <= b) for a, b in self.dates):
                return False
        return True

    def armed(self, wall: float) -> bool:
        """Is the rule armed at Unix time `wall`?"""
        if self.always:
            return True
        local = datetime.fromtimestamp(wall, self.tz)
        today = local.date()
        if not self.hours:
            return self._day_ok(today)
        minute = local.hour * 60 + local.minute + local.second / 60
        for start, end in self.hours:
            if start < end:
                if start <= minute < end and self._day_ok(today):
                    return True
            else:  # past midnight: the evening part belongs to today, the morning part to yesterday
                if minute >= start and self._day_ok(today):
                    return True
                if minute < end and self._day_ok(today - timedelta(days=1)):
                    return True
        return False
