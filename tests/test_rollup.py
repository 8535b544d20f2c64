"""The rolls: a rolled case counts exactly as the same case read one by one, before and after an appeal."""

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from api.settings import Settings
from cases import appeals
from cases.indicators import indicators_by_area
from cases.loop import Action
from cases.rollup import percentile, roll, roll_ended
from cli.local.scratch import drop_database, fresh_database
from db.engine import make_engine
from geo.demo import load_demo
from tests.test_indicators_history import LATER, NEXT, RULES, WEEK, act, at
from tests.test_sla_db import escalate_all, record, start_all_clocks

MONTH = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture(scope="module")
def city(base_settings: Settings, database_url: str) -> Iterator[Engine]:
    settings = fresh_database(base_settings, "gridgov_rollup")
    engine = make_engine(settings.database.url)
    load_demo(engine)
    yield engine
    engine.dispose()
    drop_database(settings)


def test_the_percentile_of_counted_values_is_postgresql_percentile_cont() -> None:
    # 2, 3.5, 3.5, 8.5: position 0.9 × 3 = 2.7, between 3.5 (index 2) and 8.5 (index 3): 3.5 + 0.7 × 5 = 7.0
    assert percentile([(8.5, 1), (2.0, 1), (3.5, 2)], 0.9) == pytest.approx(7.0)
    assert percentile([(4.0, 3)], 0.9) == 4.0
    assert percentile([], 0.9) is None
    assert percentile([(1.0, 0)], 0.9) is None


def _grids_of_one_community(engine: Engine) -> tuple[list[int], str, str]:
    """Indexes (for record()) of three grids in one community; the community's and its street's codes."""
    with engine.connect() as conn:
        codes = list(conn.execute(text("SELECT code FROM active_area WHERE level = 'grid' ORDER BY code")).scalars())
    community = codes[0][:12]
    return [i for i, code in enumerate(codes) if code.startswith(community)][:3], community, community[:9]


def _read(engine: Engine, street: str, community: str, now: datetime, rolls: bool) -> dict[Any, Any]:
    """The street by communities and the community alone, for the weeks and the month, read at ``now``."""
    found = {}
    with engine.connect() as conn:
        for days in (WEEK, NEXT, MONTH):
            found[street, days] = indicators_by_area(conn, street, [community], *days, RULES, now, rolls=rolls)
            found[community, days] = indicators_by_area(conn, community, [], *days, RULES, now, rolls=rolls)
    return found


def test_rolled_cases_count_as_the_same_cases_read_one_by_one(city: Engine) -> None:
    (g1, g2, g3), community, street = _grids_of_one_community(city)
    # On time: minor, Mon 09:00 (due 14:30), resolved 10:00, verified 10:10.
    on_time = record(city, "incident", "0102", at(2026, 11, 23, 9, 0), g1)
    # Late: minor, Fri 09:00 (due 14:30), resolved 15:00, verified 15:10; appealed below.
    late = record(city, "incident", "0102", at(2026, 11, 27, 9, 0), g2)
    # Escalated: general, filed Tue 09:00 (due Wed 09:30); the clock escalates it; resolved and verified Mon 30th.
    escalated = record(city, "incident", "8602", at(2026, 11, 24, 9, 0), g3)
    # Urgent: straight to its unit, signed, resolved, sent back once, resolved and verified on Wednesday.
    urgent = record(city, "incident", "8301", at(2026, 11, 25, 9, 0), g1)
    refused = record(city, "incident", "8602", at(2026, 11, 26, 9, 0), g2)
    still_open = record(city, "incident", "8602", at(2026, 11, 27, 9, 0), g3)
    start_all_clocks(city)
    act(city, on_time, Action.RESOLVE, at(2026, 11, 23, 10, 0))
    act(city, on_time, Action.VERIFY, at(2026, 11, 23, 10, 10), actor="sup")
    act(city, late, Action.RESOLVE, at(2026, 11, 27, 15, 0))
    act(city, late, Action.VERIFY, at(2026, 11, 27, 15, 10), actor="sup")
    act(city, escalated, Action.FILE, at(2026, 11, 24, 9, 0), actor="sup")
    act(city, escalated, Action.ACCEPT, at(2026, 11, 24, 9, 0))
    escalate_all(city, at(2026, 11, 25, 9, 31))
    act(city, urgent, Action.ACCEPT, at(2026, 11, 25, 9, 10), actor="unit")
    act(city, urgent, Action.RESOLVE, at(2026, 11, 25, 10, 0), actor="unit")
    act(city, urgent, Action.REJECT_RESOLUTION, at(2026, 11, 25, 10, 30), actor="sup", note="没修好")
    act(city, urgent, Action.RESOLVE, at(2026, 11, 25, 11, 0), actor="unit")
    act(city, urgent, Action.VERIFY, at(2026, 11, 25, 11, 30), actor="sup")
    act(city, refused, Action.REFUSE, at(2026, 11, 26, 9, 30), actor="sup", note="不属于受理范围")
    act(city, still_open, Action.FILE, at(2026, 11, 27, 9, 30), actor="sup")
    act(city, escalated, Action.RESOLVE, at(2026, 11, 30, 10, 0))
    act(city, escalated, Action.VERIFY, at(2026, 11, 30, 10, 30), actor="sup")

    now = at(2026, 12, 1, 9, 0)
    one_by_one = _read(city, street, community, now, rolls=False)
    assert _read(city, street, community, now, rolls=True) == one_by_one  # nothing rolled yet
    week = one_by_one[community, WEEK][community]
    assert (week["received"], week["due"], week["closed"], week["closed_on_time"]) == (6, 4, 3, 2)
    assert [u["dispatched"] for u in week["units"]] == [1]

    with city.begin() as conn:  # the ended cases, all before Dec 1 began: five (the open one stays out)
        assert roll(conn, RULES, now, limit=3) == 3
        assert roll(conn, RULES, now) == 2
        assert roll(conn, RULES, now) == 0
        rolled = set(conn.execute(text('SELECT id::text FROM "case" WHERE rolled')).scalars())
    assert rolled == {on_time, late, escalated, urgent, refused}
    assert _read(city, street, community, now, rolls=True) == one_by_one
    later = _read(city, street, community, LATER, rolls=False)
    assert _read(city, street, community, LATER, rolls=True) == later

    # An appeal against the late close: lodging it takes the case out of the rolls (its transition changes the
    # case), the next batch rolls it again as it stands; the decision takes it out again and counts it on time.
    appeals.ask(city, uuid.UUID(late), "gw-1", "暴雨", "", None, at(2026, 12, 1, 10, 0), RULES)
    assert _rolled(city, late) is False
    assert roll_ended(city, RULES, at(2026, 12, 1, 10, 5)) == 1
    appeals.decide(city, uuid.UUID(late), "district-1", "district", True, "属实", at(2026, 12, 1, 11, 0), RULES)
    assert _rolled(city, late) is False
    decided = _read(city, street, community, LATER, rolls=False)
    assert _read(city, street, community, LATER, rolls=True) == decided
    assert roll_ended(city, RULES, at(2026, 12, 1, 11, 5)) == 1
    assert _read(city, street, community, LATER, rolls=True) == decided
    before, after = later[community, WEEK][community], decided[community, WEEK][community]
    assert (after["closed_on_time"], after["appeals_upheld"]) == (before["closed_on_time"] + 1, 1)
    # A period read as of its end keeps its figures however the cases are kept, apart from the decided appeal.
    for key, figures in later.items():
        for area, f in figures.items():
            changed = {k for k in f if f[k] != decided[key][area][k]}
            assert changed <= {"closed_on_time", "appeals_upheld", "overdue", "on_time_closure_rate"}, key


def _rolled(engine: Engine, case: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text('SELECT rolled FROM "case" WHERE id = :id'), {"id": case}).scalar_one())


def test_a_reading_by_grids_reads_the_rolls_per_grid(city: Engine) -> None:
    with city.connect() as conn:
        community = conn.execute(text('SELECT left(min(grid_code), 12) FROM "case" WHERE rolled')).scalar_one()
        grids = list(
            conn.execute(
                text("SELECT code FROM active_area WHERE level = 'grid' AND code LIKE :c ORDER BY code"),
                {"c": community + "%"},
            ).scalars()
        )
        rolled = indicators_by_area(conn, community, grids, *MONTH, RULES, LATER)
        one_by_one = indicators_by_area(conn, community, grids, *MONTH, RULES, LATER, rolls=False)
    assert rolled == one_by_one
    assert sum(rolled[g]["received"] for g in grids) == rolled[community]["received"] > 0


def test_a_rolled_day_is_after_the_day_ended(city: Engine) -> None:
    case = record(city, "incident", "0102", at(2026, 12, 3, 9, 0), 0)
    start_all_clocks(city)
    act(city, case, Action.RESOLVE, at(2026, 12, 3, 10, 0))
    act(city, case, Action.VERIFY, at(2026, 12, 3, 10, 10), actor="sup")
    assert roll_ended(city, RULES, at(2026, 12, 3, 23, 59)) == 0
    assert roll_ended(city, RULES, at(2026, 12, 3, 23, 59) + timedelta(minutes=2)) == 1
