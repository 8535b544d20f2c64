"""Indicators read from each case's history: the eight findings of one hand-built week, each worked out by hand.

The week is Monday 23 – Sunday 29 November 2026 (local), then 30 Nov – 6 Dec. Working hours
08:30–12:00 and 13:30–17:30. Demo rules: 暴露垃圾 (0102, minor, handled on the spot) has 4
working hours at the grid; 噪声扰民 (8602, general) 8 at the grid, 16 at the community;
消防通道堵塞 (8301, urgent, sent straight to 消防救援大队) 120 calendar minutes at the
department, sign-in within 15. Each case is in a grid of its own (finding 1 reads a
community), in a database of this module's own.
"""

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from api.settings import Settings
from cases import appeals
from cases.clock import escalate_breaches, start_clocks
from cases.errors import NotAllowed
from cases.indicators import indicators
from cases.loop import Action
from cases.rules import load_rules
from cases.store import transition
from cases.worklog import Week, weekly_closeout
from cli.local.scratch import drop_database, fresh_database
from db.engine import make_engine
from geo.demo import load_demo
from tests.test_sla_db import record
from tests.words import english

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
WEEK = (date(2026, 11, 23), date(2026, 11, 29))
NEXT = (date(2026, 11, 30), date(2026, 12, 6))
LATER = datetime(2027, 12, 1, tzinfo=UTC)  # a year on


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(scope="module")
def city(base_settings: Settings, database_url: str) -> Iterator[Engine]:
    settings = fresh_database(base_settings, "gridgov_history")
    engine = make_engine(settings.database.url)
    load_demo(engine)
    yield engine
    engine.dispose()
    drop_database(settings)


GRIDS = iter(range(10, 300, 7))  # test 1 uses grids 1 and 2


def grid_case(engine: Engine, category: str, opened: datetime) -> tuple[str, str]:
    """A report in a grid no other case of this module uses; (case id, grid code)."""
    index = next(GRIDS)
    case = record(engine, "incident", category, opened, index)
    with engine.connect() as conn:
        grid = conn.execute(text('SELECT grid_code FROM "case" WHERE id = :id'), {"id": case}).scalar_one()
    start_clocks(engine, RULES)
    return case, grid


def act(engine: Engine, case: str, action: Action, when: datetime, actor: str = "gw-1", **kw: Any) -> None:
    note = kw.pop("note", "理由" if action in (Action.EXTEND, Action.SUSPEND, Action.DECLINE) else "")
    transition(engine, uuid.UUID(case), action, actor, note, when, RULES, **kw)


def figures(engine: Engine, area: str, days: tuple[date, date], now: datetime = LATER) -> dict[str, Any]:
    with engine.connect() as conn:
        return indicators(conn, area, days[0], days[1], RULES, now)


def counts(f: dict[str, Any]) -> tuple[int, int, int, int]:
    return f["due"], f["closed"], f["closed_on_time"], f["overdue"]


def test_1_an_escalated_overdue_case_stays_due_where_its_due_moment_lies(city: Engine) -> None:
    # A: filed and taken on by the grid Tue 09:00: due 8 working hours later, Wed 09:30
    # (Tue 09:00–12:00 3 h + 13:30–17:30 4 h, Wed 08:30–09:30 1 h). The clock escalates it at Wed
    # 09:30 (community: 16 h, to Fri 10:30) and Fri 10:30 (street: 24 h, into the next week).
    a = record(city, "incident", "8602", at(2026, 11, 24, 9, 0), 1)
    # B, in the next grid of the same community: filed Mon 09:00, due Tue 09:30, resolved Tue 11:00
    # (late), verified 11:30.
    b = record(city, "incident", "8602", at(2026, 11, 23, 9, 0), 2)
    start_clocks(city, RULES)
    act(city, a, Action.FILE, at(2026, 11, 24, 9, 0), actor="sup")
    act(city, a, Action.ACCEPT, at(2026, 11, 24, 9, 0))
    act(city, b, Action.FILE, at(2026, 11, 23, 9, 0), actor="sup")
    act(city, b, Action.ACCEPT, at(2026, 11, 23, 9, 0))
    act(city, b, Action.RESOLVE, at(2026, 11, 24, 11, 0))
    act(city, b, Action.VERIFY, at(2026, 11, 24, 11, 30), actor="sup")
    for now in (at(2026, 11, 25, 9, 31), at(2026, 11, 27, 10, 31), at(2026, 11, 29, 23, 0)):
        while escalate_breaches(city, RULES, now):
            pass
    with city.connect() as conn:
        rows = conn.execute(
            text('SELECT id::text, level, deadline, grid_code, community_code FROM "case" WHERE id IN (:a, :b)'),
            {"a": a, "b": b},
        ).all()
    found = {r.id: r for r in rows}
    assert found[a].level == "street" and found[a].deadline > at(2026, 11, 30)  # its deadline is after the week
    community = found[a].community_code
    assert found[b].community_code == community
    assert counts(figures(city, found[a].grid_code, WEEK)) == (1, 0, 0, 1)  # A: due Wed, open at the week's end
    # The community: A and B due; B closed (late); both overdue. 结案率 1/2, 按期结案率 0.
    f = figures(city, community, WEEK)
    assert counts(f) == (2, 1, 0, 2)
    assert (f["closure_rate"], f["on_time_closure_rate"]) == (0.5, 0.0)


def test_2_an_early_close_counts_in_the_week_it_happened_and_a_close_after_the_week_does_not(city: Engine) -> None:
    # Y: Fri 14:00, due 4 working hours later: Fri 14:00–17:30 3.5 h + Mon 08:30–09:00 → Mon 30 Nov 09:00.
    # Resolved Fri 15:00, verified Fri 15:30: closed before its due moment, so it counts on Friday.
    y, y_grid = grid_case(city, "0102", at(2026, 11, 27, 14, 0))
    act(city, y, Action.RESOLVE, at(2026, 11, 27, 15, 0))
    act(city, y, Action.VERIFY, at(2026, 11, 27, 15, 30), actor="sup")
    assert counts(figures(city, y_grid, WEEK)) == (1, 1, 1, 0)
    assert counts(figures(city, y_grid, NEXT)) == (0, 0, 0, 0)
    # Z: Fri 09:00, due Fri 14:30 (09:00–12:00 3 h, 13:30–14:30 1 h); fixed Fri 11:00, verified Mon 10:00.
    # It is due in Friday's week; at that week's end it was not closed (结案 is the passed verification).
    z, z_grid = grid_case(city, "0102", at(2026, 11, 27, 9, 0))
    act(city, z, Action.RESOLVE, at(2026, 11, 27, 11, 0))
    act(city, z, Action.VERIFY, at(2026, 11, 30, 10, 0), actor="sup")
    assert counts(figures(city, z_grid, WEEK)) == (1, 0, 0, 1)
    assert counts(figures(city, z_grid, NEXT)) == (0, 0, 0, 0)  # due in one week only


def test_3_work_after_the_due_moment_is_late_with_or_without_a_tick(city: Engine) -> None:
    # U (urgent): sent to 消防救援大队 Mon 10:00, due 120 min later, 12:00; signed 10:05, the clock flags it
    # at 12:06 (its fix deadline 12:05), resolved 13:05, verified 13:10: late.
    u, u_grid = grid_case(city, "8301", at(2026, 11, 23, 10, 0))
    act(city, u, Action.ACCEPT, at(2026, 11, 23, 10, 5), actor="fire")
    while escalate_breaches(city, RULES, at(2026, 11, 23, 12, 6)):
        pass
    act(city, u, Action.RESOLVE, at(2026, 11, 23, 13, 5), actor="fire")
    act(city, u, Action.VERIFY, at(2026, 11, 23, 13, 10), actor="sup")
    f = figures(city, u_grid, WEEK)
    assert counts(f) == (1, 1, 0, 1)
    assert f["urgent"] == {"due": 1, "closed_on_time": 0, "on_time_closure_rate": 0.0}
    # M: Mon 09:00, due 14:30; resolved Tue 10:00 — 4.5 working hours late (Mon 14:30–17:30 3 h, Tue
    # 08:30–10:00 1.5 h) — and verified 10:30, with no clock tick in between.
    m, m_grid = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    act(city, m, Action.RESOLVE, at(2026, 11, 24, 10, 0))
    act(city, m, Action.VERIFY, at(2026, 11, 24, 10, 30), actor="sup")
    assert counts(figures(city, m_grid, WEEK)) == (1, 1, 0, 1)


def test_4_a_missed_sign_in_is_not_a_second_dispatch(city: Engine) -> None:
    # S: sent to 消防救援大队 Mon 10:00, sign-in due 10:15; the clock records sign_in_overdue at 10:16
    # (dispatched → dispatched); signed 10:30. One dispatch, signed late: 0 of 1 on time.
    s, grid = grid_case(city, "8301", at(2026, 11, 23, 10, 0))
    while escalate_breaches(city, RULES, at(2026, 11, 23, 10, 16)):
        pass
    act(city, s, Action.ACCEPT, at(2026, 11, 23, 10, 30), actor="fire")
    units = figures(city, grid, WEEK)["units"]
    assert [(u["unit"], u["dispatched"], u["signed_on_time"]) for u in units] == [("消防救援大队", 1, 0)]


def test_5_the_close_out_and_the_indicators_give_one_answer(city: Engine) -> None:
    keys = ("due", "closed", "closed_on_time", "overdue")
    with city.connect() as conn:
        communities = conn.execute(
            text('SELECT DISTINCT community_code FROM "case" WHERE community_code IS NOT NULL ORDER BY 1')
        ).scalars()
        pairs = [
            (weekly_closeout(conn, c, Week.parse("2026-W48"), RULES, LATER)["counts"], figures(city, c, WEEK))
            for c in communities
        ]
    assert sum(week["due"] for _, week in pairs) > 0
    for closeout, week in pairs:
        assert {k: closeout[k] for k in keys} == {k: week[k] for k in keys}


def test_6_a_past_week_reads_the_same_after_a_late_suspension(city: Engine) -> None:
    # P: Mon 09:00, due 14:30, still open at the week's end: due and overdue in it.
    p, grid = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    before = figures(city, grid, WEEK)
    assert counts(before) == (1, 0, 0, 1)
    # Suspended the next Tuesday (after its due moment): the week it was due in does not change.
    act(city, p, Action.SUSPEND, at(2026, 12, 1, 9, 0), length="2d")
    act(city, p, Action.APPROVE, at(2026, 12, 1, 9, 5), actor="district-1")
    assert figures(city, grid, WEEK) == before
    # Q: Mon 09:00, suspended at 09:30 (before its due moment) for 5 working days: out of the count
    # while it runs, and its due moment then moves by the time it lasted.
    q, q_grid = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    act(city, q, Action.SUSPEND, at(2026, 11, 23, 9, 30), length="5d")
    act(city, q, Action.APPROVE, at(2026, 11, 23, 9, 35), actor="district-1")
    assert counts(figures(city, q_grid, WEEK)) == (0, 0, 0, 0)


def test_7_a_rework_does_not_give_a_fresh_due_moment(city: Engine) -> None:
    # R: Mon 09:00, due 14:30; resolved 10:00, sent back 11:00 (its working deadline moves to 16:30),
    # resolved again 16:00, verified 16:10: the accepted resolution came after 14:30, so late.
    r, grid = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    act(city, r, Action.RESOLVE, at(2026, 11, 23, 10, 0))
    act(city, r, Action.REJECT_RESOLUTION, at(2026, 11, 23, 11, 0), actor="sup", note="not clean")
    act(city, r, Action.RESOLVE, at(2026, 11, 23, 16, 0))
    act(city, r, Action.VERIFY, at(2026, 11, 23, 16, 10), actor="sup")
    assert counts(figures(city, grid, WEEK)) == (1, 1, 0, 1)


def test_an_extension_approved_in_time_moves_the_due_moment_one_approved_late_does_not(city: Engine) -> None:
    # E: Mon 09:00, due 14:30; extended 1 working day, approved 10:00: due Tue 17:30; closed Tue 16:00.
    e, grid = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    act(city, e, Action.EXTEND, at(2026, 11, 23, 9, 30), length="1d")
    act(city, e, Action.APPROVE, at(2026, 11, 23, 10, 0), actor="sup")
    act(city, e, Action.RESOLVE, at(2026, 11, 24, 16, 0))
    act(city, e, Action.VERIFY, at(2026, 11, 24, 16, 30), actor="sup")
    f = figures(city, grid, WEEK)
    assert counts(f) == (1, 1, 1, 0) and f["extension_rate"] == 1.0
    # L: Mon 09:00, due 14:30; extended only at 15:00 (late): still due 14:30, closed Tue: late.
    late, late_grid = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    act(city, late, Action.EXTEND, at(2026, 11, 23, 14, 45), length="1d")
    act(city, late, Action.APPROVE, at(2026, 11, 23, 15, 0), actor="sup")
    act(city, late, Action.RESOLVE, at(2026, 11, 24, 16, 0))
    act(city, late, Action.VERIFY, at(2026, 11, 24, 16, 30), actor="sup")
    assert counts(figures(city, late_grid, WEEK)) == (1, 1, 0, 1)


def test_a_period_read_during_it_and_at_its_end(city: Engine) -> None:
    # T: Wed 9:00, due 14:30. Read on Wed 12:00 it is due this week but not yet overdue; at the end, overdue.
    _, grid = grid_case(city, "0102", at(2026, 11, 25, 9, 0))
    assert counts(figures(city, grid, WEEK, at(2026, 11, 25, 12, 0))) == (1, 0, 0, 0)
    assert counts(figures(city, grid, WEEK)) == (1, 0, 0, 1)
    assert figures(city, grid, WEEK) == figures(city, grid, WEEK, LATER + timedelta(days=365))


def test_8_the_readme_lets_gridworkers_ask_for_extensions_as_the_code_does() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `gridworker` |"))
    assert "ask for an extension or a suspension" in row
    assert "not dispatch" in row and "extend)" not in row
    from api.access import HANDLER_ACTIONS

    assert Action.EXTEND in HANDLER_ACTIONS and Action.SUSPEND in HANDLER_ACTIONS


def test_an_upheld_appeal_counts_a_late_case_on_time_and_keeps_its_raw_lateness(city: Engine) -> None:
    # L: Mon 09:00, due 14:30; resolved 15:00 (late), verified 15:10. Appealed Tue, upheld Wed by the district.
    late, grid = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    act(city, late, Action.RESOLVE, at(2026, 11, 23, 15, 0))
    act(city, late, Action.VERIFY, at(2026, 11, 23, 15, 10), actor="sup")
    before = figures(city, grid, WEEK)
    assert counts(before) == (1, 1, 0, 1)
    # O: closed on time (resolved 10:00): nothing to appeal.
    fine, _ = grid_case(city, "0102", at(2026, 11, 23, 9, 0))
    act(city, fine, Action.RESOLVE, at(2026, 11, 23, 10, 0))
    act(city, fine, Action.VERIFY, at(2026, 11, 23, 10, 10), actor="sup")
    with pytest.raises(NotAllowed) as refused:
        appeals.ask(city, uuid.UUID(fine), "gw-1", "理由", "", None, at(2026, 11, 24, 9, 0), RULES)
    assert re.search("only a case closed late", english(refused.value))
    with pytest.raises(NotAllowed) as refused:  # 5 days after the close is past
        appeals.ask(city, uuid.UUID(late), "gw-1", "暴雨", "", None, at(2026, 11, 28, 15, 11), RULES)
    assert re.search("within", english(refused.value))
    evidence = "气象台预警截图"
    appeals.ask(city, uuid.UUID(late), "gw-1", "暴雨封路，无法作业", evidence, None, at(2026, 11, 24, 9, 0), RULES)
    with pytest.raises(NotAllowed) as refused:
        appeals.ask(city, uuid.UUID(late), "gw-1", "再诉", "", None, at(2026, 11, 24, 9, 5), RULES)
    assert re.search("appealed already", english(refused.value))
    assert figures(city, grid, WEEK) == before  # pending: nothing changes
    with pytest.raises(NotAllowed) as refused:
        appeals.decide(city, uuid.UUID(late), "gw-1", "district", True, "属实", at(2026, 11, 25, 9, 0), RULES)
    assert re.search("your own appeal", english(refused.value))
    with pytest.raises(NotAllowed) as refused:
        appeals.decide(city, uuid.UUID(late), "street-1", "street", True, "属实", at(2026, 11, 25, 9, 0), RULES)
    assert re.search("district level", english(refused.value))
    appeals.decide(city, uuid.UUID(late), "district-1", "district", True, "属实", at(2026, 11, 25, 9, 0), RULES)
    after = figures(city, grid, WEEK)
    assert counts(after) == (1, 1, 1, 0)  # on time in the assessment
    assert (after["closed_on_time_raw"], after["appeals_upheld"]) == (0, 1)  # the raw lateness stays readable
    with city.connect() as conn:
        history = conn.execute(
            text("SELECT action, actor FROM case_transition WHERE case_id = :id ORDER BY seq"), {"id": late}
        ).all()
        raw = conn.execute(text('SELECT closed_on_time FROM "case" WHERE id = :id'), {"id": late}).scalar_one()
    assert [tuple(h) for h in history][-2:] == [("appeal", "gw-1"), ("appeal_upheld", "district-1")]
    assert raw is False
    with pytest.raises(NotAllowed) as refused:
        appeals.decide(city, uuid.UUID(late), "district-2", "district", False, "复核", at(2026, 11, 25, 9, 5), RULES)
    assert re.search("no pending appeal", english(refused.value))
