"""Working time, SLA rules and the case state machine as pure functions."""

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cases.calendar import WorkCalendar, load_overrides
from cases.loop import Action, Case, NotAllowed, ReasonRequired, State, allowed_actions, apply, breach_action
from cases.rules import RULES_FILE, Level, RulesError, load_rules
from tests.words import english

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_working_hours_skip_the_weekend() -> None:
    # Friday 16:00 + 4 working hours: 1.5 h on Friday, 2.5 h on Monday morning.
    assert RULES.deadline("0102", Level.GRID, at(2026, 11, 20, 16, 0)) == at(2026, 11, 23, 11, 0)


def test_working_hours_skip_the_lunch_break() -> None:
    # 11:00 + 4 h: 1 h before lunch, 3 h from 13:30.
    assert RULES.deadline("0102", Level.GRID, at(2026, 11, 19, 11, 0)) == at(2026, 11, 19, 16, 30)


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
    assert RULES.deadline("8301", Level.GRID, at(2026, 11, 21, 23, 50)) == at(2026, 11, 22, 0, 5)
    assert RULES.deadline("8303", Level.STREET, at(2026, 11, 21, 23, 50)) == at(2026, 11, 22, 0, 50)


def _in_progress() -> Case:
    opened = at(2026, 11, 19, 9, 0)  # Thursday
    case = Case("0102", State.IN_PROGRESS, Level.GRID, RULES.deadline("0102", Level.GRID, opened))
    assert case.deadline == at(2026, 11, 19, 14, 30)
    return case


def test_an_approved_extension_sets_a_new_deadline_and_nobody_approves_their_own() -> None:
    asked = apply(
        _in_progress(),
        Action.EXTEND,
        at(2026, 11, 19, 10, 0),
        RULES,
        "waiting for the owner",
        actor="gw",
        length=RULES.parse_length("0102", "2h"),
    )
    assert asked.deadline == at(2026, 11, 19, 14, 30) and asked.request is not None  # the clock runs on
    assert allowed_actions(asked) == ["approve", "escalate", "refuse_request", "resolve"]
    with pytest.raises(NotAllowed) as refused:
        apply(asked, Action.APPROVE, at(2026, 11, 19, 10, 5), RULES, actor="gw")
    assert re.search("your own extension request", english(refused.value))
    approved = apply(asked, Action.APPROVE, at(2026, 11, 19, 10, 5), RULES, actor="sup")
    assert approved.deadline == at(2026, 11, 19, 16, 30)  # 14:30 + 2 working hours
    assert (approved.extensions, approved.request) == (1, None)
    refused = apply(asked, Action.REFUSE_REQUEST, at(2026, 11, 19, 10, 5), RULES, "not needed", actor="sup")
    assert refused.deadline == at(2026, 11, 19, 14, 30) and refused.request is None


def test_extensions_respect_the_rules_limits() -> None:
    case = _in_progress()
    two_days = RULES.parse_length("0102", "2d")
    for n in range(2):  # at most 2 per case
        case = apply(case, Action.EXTEND, at(2026, 11, 19, 10, n), RULES, "more time", actor="gw", length=two_days)
        case = apply(case, Action.APPROVE, at(2026, 11, 19, 11, n), RULES, actor="sup")
    # 14:30 Thursday + 2 working days → Mon 23 Nov 17:30, + 2 more → Wed 25 Nov 17:30.
    assert case.deadline == at(2026, 11, 25, 17, 30) and case.extensions == 2
    with pytest.raises(NotAllowed) as refused:
        apply(case, Action.EXTEND, at(2026, 11, 19, 12, 0), RULES, "again", actor="gw", length=two_days)
    assert re.search("after 2 approved extension", english(refused.value))
    with pytest.raises(NotAllowed) as refused:
        apply(
            _in_progress(),
            Action.EXTEND,
            at(2026, 11, 19, 10, 0),
            RULES,
            "long",
            actor="gw",
            length=RULES.parse_length("0102", "11d"),
        )
    assert re.search("longer than 10 days", english(refused.value))
    with pytest.raises(ReasonRequired) as refused:
        apply(_in_progress(), Action.EXTEND, at(2026, 11, 19, 10, 0), RULES, "how long?", actor="gw")
    assert re.search("needs the length", english(refused.value))


def test_an_approved_suspension_stops_the_clock_until_it_ends_or_is_resumed() -> None:
    asked = apply(
        _in_progress(),
        Action.SUSPEND,
        at(2026, 11, 19, 10, 0),
        RULES,
        "court ruling pending",
        actor="gw",
        length=RULES.parse_length("0102", "3d"),
    )
    suspended = apply(asked, Action.APPROVE, at(2026, 11, 19, 10, 0), RULES, actor="sup")
    assert suspended.paused_at == at(2026, 11, 19, 10, 0)
    assert suspended.paused_until == at(2026, 11, 24, 17, 30)  # 3 working days: Fri 20, Mon 23, Tue 24
    assert allowed_actions(suspended) == ["resume"]
    resumed = apply(suspended, Action.RESUME, at(2026, 11, 20, 10, 0), RULES, actor="sup")  # 7.5 working hours on
    assert resumed.paused_at is None
    assert resumed.deadline == RULES.calendar.add(at(2026, 11, 19, 14, 30), timedelta(hours=7, minutes=30))
    assert resumed.deadline == at(2026, 11, 20, 14, 30)


def test_a_request_needs_a_reason() -> None:
    with pytest.raises(ReasonRequired):
        apply(
            _in_progress(),
            Action.SUSPEND,
            at(2026, 11, 19, 10, 0),
            RULES,
            "  ",
            actor="gw",
            length=RULES.parse_length("0102", "1d"),
        )


def test_an_action_not_allowed_lists_the_allowed_ones() -> None:
    case = Case("8602", State.REPORTED, Level.GRID, at(2026, 11, 19, 14, 30))
    with pytest.raises(NotAllowed) as refused:
        apply(case, Action.VERIFY, at(2026, 11, 19, 10, 0), RULES)
    assert refused.value.allowed == ["dispatch", "file", "merge", "refuse", "void"]


def test_intake_by_category_on_the_spot_straight_to_the_unit_or_waiting() -> None:
    new = {code: Case(code, State.REPORTED, Level.GRID, None) for code in ("0102", "8301", "8602")}
    reported = at(2026, 11, 19, 9, 0)
    spot, direct, waiting = (apply(c, Action.AUTO_INTAKE, reported, RULES) for c in new.values())
    assert (spot.state, spot.level, spot.deadline) == (State.IN_PROGRESS, Level.GRID, at(2026, 11, 19, 14, 30))
    # 8301 (urgent, direct): the department must sign within 15 calendar minutes.
    assert (direct.state, direct.level, direct.deadline) == (
        State.DISPATCHED,
        Level.DEPARTMENT,
        at(2026, 11, 19, 9, 15),
    )
    # 8602 (general): a supervisor takes it in within 2 working hours.
    assert (waiting.state, waiting.deadline) == (State.REPORTED, at(2026, 11, 19, 11, 0))
    assert breach_action(waiting, RULES) == "intake_overdue" and breach_action(direct, RULES) == "sign_in_overdue"
    flagged = apply(waiting, Action.AUTO_ESCALATE, at(2026, 11, 19, 11, 1), RULES)
    assert (flagged.state, flagged.level, flagged.overdue) == (State.REPORTED, Level.GRID, True)


def test_refusing_voiding_and_merging_need_a_reason_and_end_the_report() -> None:
    case = Case("8602", State.REPORTED, Level.GRID, at(2026, 11, 19, 11, 0))
    with pytest.raises(ReasonRequired):
        apply(case, Action.REFUSE, at(2026, 11, 19, 10, 0), RULES, "")
    for action, state in ((Action.REFUSE, State.REFUSED), (Action.VOID, State.VOIDED), (Action.MERGE, State.MERGED)):
        ended = apply(case, action, at(2026, 11, 19, 10, 0), RULES, "why")
        assert ended.state is state and ended.deadline is None and allowed_actions(ended) == []


def test_dispatch_sign_in_return_and_fix() -> None:
    filed = apply(Case("8602", State.REPORTED, Level.GRID, None), Action.FILE, at(2026, 11, 19, 9, 0), RULES)
    assert (filed.state, filed.deadline) == (State.FILED, at(2026, 11, 19, 11, 0))  # dispatch within 2 h
    sent = apply(filed, Action.DISPATCH, at(2026, 11, 19, 9, 30), RULES)
    assert (sent.state, sent.level, sent.deadline) == (State.DISPATCHED, Level.DEPARTMENT, at(2026, 11, 19, 11, 30))
    returned = apply(sent, Action.DECLINE, at(2026, 11, 19, 10, 0), RULES, "not ours: a property matter")
    assert (returned.state, returned.deadline) == (State.FILED, at(2026, 11, 19, 12, 0))  # back to the dispatcher, 2 h
    to_grid = apply(returned, Action.DISPATCH, at(2026, 11, 19, 10, 30), RULES, assignee="gw-321111001001001")
    assert to_grid.level is Level.DEPARTMENT  # the level it was sent to before stays until escalated
    signed = apply(to_grid, Action.ACCEPT, at(2026, 11, 19, 11, 0), RULES)
    # The fix deadline runs from the sign-in: 40 working hours at department level.
    assert (signed.state, signed.deadline) == (
        State.IN_PROGRESS,
        RULES.calendar.add(at(2026, 11, 19, 11, 0), timedelta(hours=40)),
    )


def test_rejecting_a_resolution_is_rework() -> None:
    case = Case("0102", State.RESOLVED, Level.GRID, at(2026, 11, 19, 14, 30))
    reopened = apply(case, Action.REJECT_RESOLUTION, at(2026, 11, 19, 10, 0), RULES, "still dirty")
    assert reopened.state is State.IN_PROGRESS and reopened.reworks == 1
    # A fresh grid fix limit from 10:00: 4 working hours, 2 before lunch and 2 from 13:30.
    assert reopened.deadline == at(2026, 11, 19, 15, 30)


def test_breaches_climb_to_the_department_and_then_flag_overdue() -> None:
    case = Case("8301", State.IN_PROGRESS, Level.GRID, at(2026, 11, 21, 10, 15))
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
        ("categories: {'0102': {deadlines: {grid: -4h}}}", "not a duration"),
        ("categories: {'0102': {deadlines: {grid: 0h}}}", "longer than zero"),
        ("categories: {'0102': {deadlines: {ward: 1h}}}", "unknown level"),
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


def test_a_missed_sign_in_goes_back_above_the_dispatcher_where_the_rules_say_so(tmp_path: Path) -> None:
    text = (Path(__file__).parent / "data" / "rules_working_days.yaml").read_text()
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        text.replace("general: {clock: working,", "general: {clock: working, sign_in_breach: next_level,")
    )
    rules = load_rules(rules_file)
    filed = apply(Case("8602", State.REPORTED, Level.GRID, None), Action.FILE, at(2026, 11, 19, 9, 0), rules)
    sent = apply(filed, Action.DISPATCH, at(2026, 11, 19, 9, 30), rules)
    assert (sent.level, sent.dispatched_from, sent.deadline) == (Level.DEPARTMENT, Level.GRID, at(2026, 11, 20, 17, 30))
    assert breach_action(sent, rules) == "sign_in_returned"
    returned = apply(sent, Action.AUTO_ESCALATE, at(2026, 11, 20, 17, 31), rules)
    # Filed again at the community (the level above the grid that dispatched it), to dispatch within 1 working day
    # from the missed deadline: close of business on Mon 23 Nov.
    assert (returned.state, returned.level, returned.deadline) == (
        State.FILED,
        Level.COMMUNITY,
        at(2026, 11, 23, 17, 30),
    )
    assert breach_action(sent, RULES) == "sign_in_returned"  # so do the shipped rules for the general class


def test_a_rework_must_say_why() -> None:
    case = apply(_in_progress(), Action.RESOLVE, at(2026, 11, 19, 10, 0), RULES, "done", actor="gw")
    with pytest.raises(ReasonRequired):
        apply(case, Action.REJECT_RESOLUTION, at(2026, 11, 19, 11, 0), RULES, " ", actor="sup")
