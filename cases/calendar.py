"""Working time: office hours on working days, in the city's time zone.

Working days come from, in order: a local override file (the official schedule of a
year the ``chinesecalendar`` package does not cover yet; the State Council publishes
it late in the year before), then ``chinesecalendar`` (public holidays and the
make-up working days, 调休). For a year with neither, the statutory holidays are
computed (``statutory_holidays``: the lunar ones from the lunar calendar) and every
other Monday to Friday works, with a warning that the year's make-up days are unknown.
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
from lunar_python import Lunar

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


LIBRARY_YEARS = frozenset(day.year for day in chinese_calendar.holidays)


def _solar(lunar: Lunar) -> date:
    solar = lunar.getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


@cache
def statutory_holidays(year: int) -> dict[date, str]:
    """The statutory public holidays of ``year`` (rules of 2025 on), lunar ones from the lunar calendar.

    元旦 1 Jan; 春节 from 除夕 to 初三; 清明 on its solar term; 劳动节 1–2 May; 端午 5/5 and
    中秋 8/15 of the lunar year; 国庆 1–3 Oct. Bridging days off and make-up working days
    (调休) are not statutory: they come from the official schedule.
    """
    new_year = _solar(Lunar.fromYmd(year, 1, 1))
    days = {date(year, 1, 1): "元旦"}
    days |= {new_year + timedelta(days=d): "春节" for d in range(-1, 3)}
    qingming = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    days[date(qingming.getYear(), qingming.getMonth(), qingming.getDay())] = "清明"
    days |= {date(year, 5, d): "劳动节" for d in (1, 2)}
    days[_solar(Lunar.fromYmd(year, 5, 5))] = "端午"
    days[_solar(Lunar.fromYmd(year, 8, 15))] = "中秋"
    days |= {date(year, 10, d): "国庆" for d in (1, 2, 3)}
    return days


@cache
def _warn_fallback(year: int) -> None:
    log.warning(
        "NO HOLIDAY SCHEDULE FOR %d: statutory holidays are computed, make-up working days (调休) are"
        " unknown. Add the year's schedule to the working-days file (GRIDGOV_WORKDAYS_FILE).",
        year,
    )


@cache
def _library_workday(day: date) -> bool:
    """``chinesecalendar``'s answer, kept (it checks its whole table on every call)."""
    return bool(chinese_calendar.is_workday(day))


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
            return day.weekday() < 5 and day not in statutory_holidays(day.year)
        if day.year in LIBRARY_YEARS:
            return _library_workday(day)
        _warn_fallback(day.year)
        return day.weekday() < 5 and day not in statutory_holidays(day.year)

    def official_through(self) -> int:
        """The last year whose official schedule (holidays and make-up days) is known."""
        return max(LIBRARY_YEARS | self.overrides.years)

    def coverage(self, today: date) -> dict[str, object]:
        """How far the official schedule reaches, with a warning from 1 December for a next year without it."""
        through = self.official_through()
        warning = None
        if today.year > through:
            warning = f"no official holiday schedule for {today.year}: make-up working days are unknown"
        elif today.month == 12 and today.year + 1 > through:
            warning = f"the official holiday schedule for {today.year + 1} is not loaded yet (GRIDGOV_WORKDAYS_FILE)"
        return {"official_through": through, "warning": warning}

    def _periods_from(self, start: datetime, duty: bool = False) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (local time) that end after ``start``, in order.

        With ``duty`` (holiday duty), a day that is not a working day counts whole.
        """
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(3660):  # ten years of days: a bound, never reached in practice
            if self.is_workday(day):
                periods = [
                    (datetime.combine(day, begin, self.tz), datetime.combine(day, end, self.tz))
                    for begin, end in self.hours
                ]
            elif duty:
                periods = [
                    (datetime.combine(day, time(), self.tz), datetime.combine(day + timedelta(days=1), time(), self.tz))
                ]
            else:
                periods = []
            for period in periods:
                if period[1] > local:
                    yield max(period[0], local), period[1]
            day += timedelta(days=1)
        raise RuntimeError("no working period within ten years")

    def add(self, start: datetime, duration: timedelta, duty: bool = False) -> datetime:
        """The moment ``duration`` of working time after ``start``."""
        remaining = duration
        for begin, end in self._periods_from(start, duty):
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("unreachable")

    def add_workdays(self, start: datetime, days: int) -> datetime:
        """Close of business on the ``days``-th working day after the local day of ``start`` (N个工作日)."""
        day = start.astimezone(self.tz).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            counted += self.is_workday(day)
        return datetime.combine(day, self.hours[-1][1], self.tz)

    def between(self, start: datetime, end: datetime, duty: bool = False) -> timedelta:
        """Working time from ``start`` to ``end`` (zero if end is earlier)."""
        total = timedelta()
        if end <= start:
            return total
        for begin, finish in self._periods_from(start, duty):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total
