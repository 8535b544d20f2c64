"""Deadlines in working hours, working days and calendar time, over weekends, make-up days and holidays.

Every expected value is worked out by hand from the official schedules (2026 from the
chinesecalendar library; 2027 from the computed statutory holidays alone).
"""

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cases.calendar import WorkCalendar, load_overrides, statutory_holidays
from cases.rules import Level, RulesError, load_rules

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
CALENDAR = RULES.calendar


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_statutory_holidays_of_a_year_without_official_data() -> None:
    days = statutory_holidays(2027)
    assert sorted(days) == [
        date(2027, 1, 1),  # 元旦
        *[date(2027, 2, d) for d in (5, 6, 7, 8)],  # 春节: 除夕 5 Feb to 初三 8 Feb (正月初一 is 6 Feb)
        date(2027, 4, 5),  # 清明
        date(2027, 5, 1),
        date(2027, 5, 2),  # 劳动节
        date(2027, 6, 9),  # 端午, 五月初五
        date(2027, 9, 15),  # 中秋, 八月十五
        *[date(2027, 10, d) for d in (1, 2, 3)],  # 国庆
    ]
    assert days[date(2027, 2, 5)] == "春节"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 1, 1), False),  # 元旦, a Friday
        (date(2027, 2, 5), False),  # 除夕, a Friday
        (date(2027, 2, 8), False),  # 初三, a Monday
        (date(2027, 2, 9), True),
        (date(2027, 10, 1), False),
        (date(2027, 10, 4), True),  # a Monday: no bridging days without the official schedule
        (date(2027, 1, 4), True),
    ],
)
def test_2027_has_its_holidays_without_the_library(day: date, working: bool) -> None:
    assert CALENDAR.is_workday(day) is working


def test_working_days_end_at_close_of_business_and_skip_the_weekend() -> None:
    # Reported Friday 20 Nov 2026 10:00, 2 working days: Mon 23 is the first, Tue 24 the second.
    assert CALENDAR.add_workdays(at(2026, 11, 20, 10, 0), 2) == at(2026, 11, 24, 17, 30)


def test_a_make_up_saturday_is_a_working_day() -> None:
    # Saturday 10 Oct 2026 is a make-up working day (调休): one working day after Fri 9 Oct.
    assert CALENDAR.add_workdays(at(2026, 10, 9, 10, 0), 1) == at(2026, 10, 10, 17, 30)


def test_the_national_day_week() -> None:
    # 1–7 Oct 2026 are off (1–3 statutory, 4–7 by the official schedule).
    assert CALENDAR.add_workdays(at(2026, 9, 30, 15, 0), 2) == at(2026, 10, 9, 17, 30)
    # 4 working hours from Wed 30 Sep 15:00: 2.5 h that day, 1.5 h from 08:30 on Thu 8 Oct.
    assert CALENDAR.add(at(2026, 9, 30, 15, 0), timedelta(hours=4)) == at(2026, 10, 8, 10, 0)


def test_the_2027_spring_festival_and_new_year() -> None:
    # Thu 4 Feb 2027 + 1 working day: 5 and 8 Feb are holidays, 6–7 the weekend → Tue 9 Feb.
    assert CALENDAR.add_workdays(at(2027, 2, 4, 10, 0), 1) == at(2027, 2, 9, 17, 30)
    # Thu 31 Dec 2026 + 1 working day: 1 Jan 2027 (元旦, a Friday) and the weekend → Mon 4 Jan.
    assert CALENDAR.add_workdays(at(2026, 12, 31, 10, 0), 1) == at(2027, 1, 4, 17, 30)


def test_a_working_day_limit_from_the_rules() -> None:
    rules_file = Path(__file__).parent / "data" / "rules_working_days.yaml"
    rules = load_rules(rules_file)
    # 8202 (general): grid 2 working days. Reported Thu 4 Feb 2027 16:00 → Tue 9 Feb, then Wed 10 Feb.
    assert rules.deadline("0151", Level.GRID, at(2027, 2, 4, 16, 0)) == at(2027, 2, 10, 17, 30)
    assert "grid 2 working days" in rules.describe("0151")


def test_a_fraction_of_a_working_day_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parent / "data" / "rules_working_days.yaml").read_text()
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace("grid: 2d", "grid: 1.5d"))
    with pytest.raises(RulesError, match="working days are whole days"):
        load_rules(bad)


def test_holiday_duty_runs_through_a_holiday() -> None:
    # 8304 高空坠物隐患 (major, on holiday duty): grid 2 working hours. Reported on 2 Oct 2026 (a holiday), 10:00.
    assert RULES.deadline("8304", Level.GRID, at(2026, 10, 2, 10, 0)) == at(2026, 10, 2, 12, 0)
    # Friday 20 Nov 17:00: 0.5 h to close of business, then Saturday counts whole from midnight → 01:30.
    assert RULES.deadline("8304", Level.GRID, at(2026, 11, 20, 17, 0)) == at(2026, 11, 21, 1, 30)
    # 8202 路灯不亮 (no duty): grid 16 working hours wait for Thu 8 Oct 08:30: 7.5 h on the 8th, 7.5 h on
    # the 9th, the last hour on the make-up Saturday 10 Oct → 09:30.
    assert RULES.deadline("0151", Level.GRID, at(2026, 10, 2, 10, 0)) == at(2026, 10, 10, 9, 30)
    assert "on duty over holidays" in RULES.describe("8304")


def test_the_calendar_says_how_far_its_official_data_reaches(tmp_path: Path) -> None:
    assert CALENDAR.coverage(date(2026, 11, 30)) == {"official_through": 2026, "warning": None}
    warned = CALENDAR.coverage(date(2026, 12, 1))
    assert warned["official_through"] == 2026
    assert "2027 is not loaded yet" in str(warned["warning"])
    assert "no official holiday schedule for 2027" in str(CALENDAR.coverage(date(2027, 3, 1))["warning"])
    schedule = tmp_path / "workdays.yaml"
    schedule.write_text("2027:\n  holidays: [2027-10-04]\n  workdays: [2027-02-20]\n")
    loaded = WorkCalendar(TZ, overrides=load_overrides(schedule))
    assert loaded.coverage(date(2026, 12, 1)) == {"official_through": 2027, "warning": None}
    assert not loaded.is_workday(date(2027, 10, 4)) and loaded.is_workday(date(2027, 2, 20))
    assert not loaded.is_workday(date(2027, 2, 8))  # the statutory days stay off in a year of the file
