"""Working time, SLA rules and the case state machine as pure functions."""

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cases.calendar import WorkCalendar, load_overrides
from cases.loop import Action, Case, NotAllowed, ReasonRequired, State, allowed_actions, apply
from cases.rules import RULES_FILE, Level, RulesError, load_rules

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_working_hours_skip_the_weekend() -> None:
    # Friday 16:00 + 4 working hours: 1.5 h on Friday, 2.5 h on Monday morning.
    assert RULES.deadline("0101", Level.GRID, at(2026, 11, 20, 16, 0)) == at(2026, 11, 23, 11, 0)


def test_working_hours_skip_the_lunch_break() -> None:
    # 11:00 + 4 h: 1 h before lunch, 3 h from 13:30.
    assert RULES.deadline("0101", Level.GRID, at(2026, 11, 19, 11, 0)) == at(2026, 11, 19, 16, 30)


def test_spring_festival_2026_and_its_make_up_day() -> None:
    # Saturday 14 Feb 2026 is a make-up working day; 15–23 Feb are the holiday.
    calendar = RULES.calendar
    assert calendar.is_workday(at(2026, 2, 14).date())
    assert not calendar.is_workday(at(2026, 2, 16).date())
    # 8 working hours from Fri 13 Feb 13:30: 4 h Friday afternoon, 3.5 h + 0.5 h on Sat 14 Feb.
    assert calendar.add(at(2026, 2, 13, 13, 30), timedelta(hours=8)) == at(2026, 2, 14, 14, 0)
    # From the last make-up afternoon, the next working time is Tue 24 Feb.
    assert calendar.add(at(2026, 2, 14, 17, 0), timedelta(hours=1)) == at(2026, 2, 24, 9, 0)


def test_urgent_cases_count_calendar_minutes() -> None:
    # 消防通道堵塞 on a Saturday night: 15 calendar minutes, no office hours.
    assert RULES.deadline("0301", Level.GRID, at(2026, 11, 21, 23, 50)) == at(2026, 11, 22, 0, 5)
    assert RULES.deadline("0303", Level.STREET, at(2026, 11, 21, 23, 50)) == at(2026, 11, 22, 0, 50)


def test_extension_pauses_the_clock_and_resume_shifts_the_deadline() -> None:
    opened = at(2026, 11, 19, 9, 0)  # Thursday
    case = Case("0101", State.IN_PROGRESS, Level.GRID, RULES.deadline("0101", Level.GRID, opened))
    assert case.deadline == at(2026, 11, 19, 14, 30)
    paused = apply(case, Action.EXTEND, at(2026, 11, 19, 10, 0), RULES, "waiting for the property company")
    assert paused.paused_at is not None and allowed_actions(paused) == ["close", "resume"]
    resumed = apply(paused, Action.RESUME, at(2026, 11, 20, 10, 0), RULES)  # 7.5 working hours later
    assert resumed.paused_at is None
    assert resumed.deadline == RULES.calendar.add(at(2026, 11, 19, 14, 30), timedelta(hours=7, minutes=30))
    assert resumed.deadline == at(2026, 11, 20, 14, 30)


def test_a_pause_needs_a_reason() -> None:
    case = Case("0101", State.REPORTED, Level.GRID, at(2026, 11, 19, 14, 30))
    with pytest.raises(ReasonRequired):
        apply(case, Action.SUSPEND, at(2026, 11, 19, 10, 0), RULES, "  ")


def test_an_action_not_allowed_lists_the_allowed_ones() -> None:
    case = Case("0101", State.REPORTED, Level.GRID, at(2026, 11, 19, 14, 30))
    with pytest.raises(NotAllowed) as refused:
        apply(case, Action.VERIFY, at(2026, 11, 19, 10, 0), RULES)
    assert refused.value.allowed == ["accept", "close", "dispatch", "escalate", "extend", "suspend"]


def test_rejecting_a_resolution_is_rework() -> None:
    case = Case("0101", State.RESOLVED, Level.GRID, at(2026, 11, 19, 14, 30))
    reopened = apply(case, Action.REJECT_RESOLUTION, at(2026, 11, 19, 10, 0), RULES, "still dirty")
    assert reopened.state is State.IN_PROGRESS and reopened.reworks == 1


def test_breaches_climb_to_the_department_and_then_flag_overdue() -> None:
    case = Case("0301", State.REPORTED, Level.GRID, at(2026, 11, 21, 10, 15))
    levels = []
    for _ in range(4):
        case = apply(case, Action.AUTO_ESCALATE, at(2026, 11, 21, 23, 0), RULES)
        levels.append((case.level.value, case.deadline, case.overdue))
    assert levels == [
        ("community", at(2026, 11, 21, 10, 30), False),
        ("street", at(2026, 11, 21, 11, 30), False),
        ("department", at(2026, 11, 21, 13, 30), False),
        ("department", at(2026, 11, 21, 13, 30), True),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classes: {}", "classes.minor is missing"),
        ("categories: {'9999': {deadlines: {grid: 1h}}}", "unknown category"),
        ("categories: {'0101': {deadlines: {grid: -4h}}}", "not a duration"),
        ("categories: {'0101': {deadlines: {grid: 0h}}}", "longer than zero"),
        ("categories: {'0101': {deadlines: {ward: 1h}}}", "unknown level"),
    ],
)
def test_bad_rules_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    base = RULES_FILE.read_text(encoding="utf-8")
    if text.startswith("classes"):
        base = base.replace("classes:", "old_classes:", 1) + "\n" + text + "\n"
    else:
        base = base.replace("categories:", "old_categories:", 1) + "\n" + text + "\n"
    path = tmp_path / "rules.yaml"
    path.write_text(base, encoding="utf-8")
    with pytest.raises(RulesError, match=message):
        load_rules(path)


def test_a_missing_level_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_FILE.read_text(encoding="utf-8").replace("community: 8h, ", "", 1), encoding="utf-8")
    with pytest.raises(RulesError, match="missing the deadline for level community"):
        load_rules(path)


def test_a_later_year_uses_the_override_file(tmp_path: Path) -> None:
    path = tmp_path / "workdays.yaml"
    path.write_text("2027:\n  holidays: [2027-01-01]\n  workdays: [2027-01-09]\n", encoding="utf-8")
    calendar = WorkCalendar(overrides=load_overrides(path))
    assert not calendar.is_workday(at(2027, 1, 1).date())  # a Friday, New Year
    assert calendar.is_workday(at(2027, 1, 9).date())  # a Saturday made a working day
    assert calendar.is_workday(at(2027, 1, 4).date())


def test_a_year_without_any_schedule_falls_back_to_weekdays_loudly(caplog: pytest.LogCaptureFixture) -> None:
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING):
        assert calendar.is_workday(at(2031, 3, 3).date())  # Monday
        assert not calendar.is_workday(at(2031, 3, 2).date())  # Sunday
    assert "NO HOLIDAY SCHEDULE FOR 2031" in caplog.text


def test_a_quiet_sla_tick_logs_nothing_and_a_busy_one_says_what_changed() -> None:
    from streams.sla import tick_summary

    assert tick_summary({"started": 0, "escalated": 0, "patrol_flags": 0, "published": 0}) is None
    assert tick_summary({"started": 3, "escalated": 0, "patrol_flags": 2, "published": 5}) == (
        "started 3, patrol flags 2, published 5"
    )
