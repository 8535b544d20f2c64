"""Working time: office hours on working days, in the city's time zone.

Working days come from, in order: a local override file (for years the
``chinesecalendar`` package does not cover yet; the State Council publishes each
year's schedule late in the year before), then ``chinesecalendar`` (public
holidays and the make-up working days, 调休), and for a year with neither,
Monday to Friday with a loud warning.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

log = logging.getLogger(__name__)
DEFAULT_HOURS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))


@dataclass(frozen=True)
class DayOverrides:
    """A year's official schedule: extra days off and make-up working days."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()


def load_overrides(path: Path | None) -> DayOverrides:
    """Read ``{YEAR: {holidays: [dates], workdays: [dates]}}``; a missing file is empty."""
    if path is None or not path.exists():
        return DayOverrides()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    holidays: set[date] = set()
    workdays: set[date] = set()
    for year, days in data.items():
        for key, target in (("holidays", holidays), ("workdays", workdays)):
            for value in days.get(key, []) or []:
                day = value if isinstance(value, date) else date.fromisoformat(str(value))
                if day.year != int(year):
                    raise ValueError(f"{path}: {day} is listed under year {year}")
                target.add(day)
    return DayOverrides(frozenset(holidays), frozenset(workdays), frozenset(int(y) for y in data))


@cache
def _warn_fallback(year: int) -> None:
    log.warning(
        "NO HOLIDAY SCHEDULE FOR %d: counting Monday-Friday as working days. Add the year's official "
        "schedule to the working-days override file (GRIDGOV_WORKDAYS_FILE).",
        year,
    )


@dataclass(frozen=True)
class WorkCalendar:
    """Office hours and working days; converts between working and calendar time."""

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS
    overrides: DayOverrides = field(default_factory=DayOverrides)

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day (make-up weekend days included)."""
        if day in self.overrides.workdays:
            return True
        if day in self.overrides.holidays:
            return False
        if day.year in self.overrides.years:
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            _warn_fallback(day.year)
            return day.weekday() < 5

    def _periods_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (local time) that end after ``start``, in order."""
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(3660):  # ten years of days: a bound, never reached in practice
            if self.is_workday(day):
                for begin, end in self.hours:
                    period = (datetime.combine(day, begin, self.tz), datetime.combine(day, end, self.tz))
                    if period[1] > local:
                        yield max(period[0], local), period[1]
            day += timedelta(days=1)
        raise RuntimeError("no working period within ten years")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start``."""
        remaining = duration
        for begin, end in self._periods_from(start):
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("unreachable")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end`` (zero if end is earlier)."""
        total = timedelta()
        if end <= start:
            return total
        for begin, finish in self._periods_from(start):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total
