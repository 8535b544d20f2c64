"""A hypothesis state machine drives random cases through the loop and checks the indicators' promises.

Cases are reported in four grids (two communities of one street) at random working and
non-working times, filed, dispatched, signed, resolved, sent back, verified, extended,
suspended, escalated, resumed, and the clock ticks between. The machine keeps its own
record of what it asked for, walks each case's transitions to work out its due moment
independently of ``cases.assessment``, and checks:

- every case is due in at most one of the adjacent weeks, and the weeks' ``due`` add up to
  the cases whose due moment (or earlier close) lies in them;
- closed ≤ due and every rate lies in [0, 1];
- a parent's counts are the sum of its children's;
- the weekly close-out gives the indicators' numbers;
- a week read at its end and read a year later gives the same figures;
- a case resolved after its due moment is never on time, whether or not the clock ticked
  (an upheld appeal counts it on time in the assessment, and keeps the raw lateness);
- the clock rolls ended cases up (``cases.rollup``) at every tick, and a community or street
  read from the rolls gives the same figures as its cases read one by one.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule
from sqlalchemy import Engine, text

from api.settings import Settings
from cases import appeals
from cases.clock import end_suspensions, escalate_breaches, start_clocks
from cases.errors import CaseError
from cases.indicators import indicators, indicators_by_area
from cases.loop import REASONED, Action
from cases.rollup import roll_ended
from cases.rules import load_rules
from cases.store import transition
from cases.worklog import Week, weekly_closeout
from cli.local.scratch import drop_database, fresh_database
from db.engine import make_engine
from geo.demo import load_demo
from tests.test_sla_db import record

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
START = datetime(2026, 11, 2, 7, 0, tzinfo=TZ)  # a Monday morning; November 2026 has no holiday
LATER = datetime(2028, 1, 1, tzinfo=UTC)
COUNTS = ("received", "filed", "due", "closed", "closed_on_time", "overdue")
CATEGORIES = ("0102", "8602", "8301")  # minor on the spot, general (filed by a supervisor), urgent (to its unit)
LENGTHS = ("1h", "4h", "1d")
AFTER_APPEALS = {"closed_on_time", "appeals_upheld", "overdue", "on_time_closure_rate", "urgent"}


@dataclass
class Places:
    engine: Engine
    grids: list[tuple[int, str]]  # (index for record(), code)
    communities: list[str]
    street: str


@pytest.fixture(scope="module")
def places(base_settings: Settings, database_url: str) -> Iterator[Places]:
    fresh = fresh_database(base_settings, "gridgov_machine")
    engine = make_engine(fresh.database.url)
    load_demo(engine)
    with engine.connect() as conn:
        codes = list(conn.execute(text("SELECT code FROM active_area WHERE level = 'grid' ORDER BY code")).scalars())
    street = codes[0][:9]
    communities = sorted({c[:12] for c in codes if c.startswith(street)})[:2]
    grids: list[tuple[int, str]] = []
    for community in communities:
        grids += [(codes.index(c), c) for c in codes if c[:12] == community][:2]
    yield Places(engine, grids, communities, street)
    engine.dispose()
    drop_database(fresh)


@dataclass
class Tracked:
    """What the machine asked for on one case: the pending request, and each approval's kind and length."""

    category: str
    pending: tuple[str, str] | None = None
    approvals: list[tuple[str, str]] = field(default_factory=list)


def weeks(first: date, n: int) -> list[tuple[date, date]]:
    return [(first + timedelta(days=7 * k), first + timedelta(days=7 * k + 6)) for k in range(n)]


@dataclass
class Expected:
    """What a case's transitions say, worked out here (not by ``cases.assessment``)."""

    due: datetime | None
    closed: datetime | None
    resolved: datetime | None  # the accepted resolution
    suspended: bool  # a suspension approved before the due moment still runs


def expected(history: list[Any], tracked: Tracked) -> Expected:
    """From the transitions alone: the due moment, the close, the accepted resolution, a running suspension."""
    due = paused = closed = resolved = last_resolve = None
    approvals = iter(tracked.approvals)
    for t in history:
        if due is None and t.to_state not in ("reported", "refused", "voided", "merged"):
            due = RULES.deadline(tracked.category, _level(t.to_level), t.at)
        elif t.action == "approve":
            kind, length = next(approvals)
            if due is not None and t.at < due:
                if kind == "extension":
                    due = RULES.after(tracked.category, due, RULES.parse_length(tracked.category, length))
                else:
                    paused = t.at
        if t.action in ("auto_resume", "resume") and paused is not None and due is not None:
            due = RULES.shift(tracked.category, due, RULES.elapsed(tracked.category, paused, t.at))
            paused = None
        if t.action == "resolve":
            last_resolve = t.at
        if t.action == "verify":
            closed, resolved = t.at, last_resolve
    return Expected(due, closed, resolved, paused is not None)


def _level(value: str) -> Any:
    from cases.rules import Level

    return Level(value)


class IndicatorMachine(RuleBasedStateMachine):
    """One example: a few cases worked over some weeks."""

    cases = Bundle("cases")
    places: Places

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.tracked: dict[str, Tracked] = {}
        self.snapshots: dict[tuple[str, date], dict[str, Any]] = {}
        self.read: dict[tuple[str, tuple[date, date], datetime], dict[str, Any]] = {}
        self.upheld_at: datetime | None = None  # the last upheld appeal: it may change a past period

    @initialize()
    def empty(self) -> None:
        with self.places.engine.begin() as conn:
            conn.execute(text('TRUNCATE case_transition, clock_skip, rating, "case", event CASCADE'))

    @rule(target=cases, category=st.sampled_from(CATEGORIES), grid=st.integers(0, 3))
    def report(self, category: str, grid: int) -> str:
        case = record(self.places.engine, "incident", category, self.now, self.places.grids[grid][0])
        start_clocks(self.places.engine, RULES)  # the clock takes a report in within seconds
        self.tracked[case] = Tracked(category)
        return case

    @rule(minutes=st.integers(1, 3 * 24 * 60))
    def time_passes(self, minutes: int) -> None:
        before = self.now
        self.now += timedelta(minutes=minutes)
        first = START.date() - timedelta(days=START.weekday())
        for monday, sunday in weeks(first, 12):
            end = datetime.combine(sunday + timedelta(days=1), datetime.min.time(), TZ)
            if before < end <= self.now:  # a week just ended: the clock ticked then; read it at its end
                self._tick(end)
                for area in self._areas():
                    self.snapshots[(area, monday)] = self._figures(area, (monday, sunday), self.now)

    @rule()
    def clock_ticks(self) -> None:
        self._tick(self.now)

    def _tick(self, now: datetime) -> None:
        """The clock's jobs at ``now`` (between ticks, a breach waits: late work is late all the same)."""
        start_clocks(self.places.engine, RULES)
        while escalate_breaches(self.places.engine, RULES, now):
            pass
        while end_suspensions(self.places.engine, RULES, now):
            pass
        while roll_ended(self.places.engine, RULES, now):
            pass

    @rule(case=cases, upheld=st.booleans())
    def appeal(self, case: str, upheld: bool) -> None:
        """The gridworker appeals a late close; the district decides it at once."""
        try:
            appeals.ask(self.places.engine, uuid.UUID(case), "gw-1", "暴雨", "", None, self.now, RULES)
            appeals.decide(self.places.engine, uuid.UUID(case), "district-1", "district", upheld, "", self.now, RULES)
        except CaseError:
            return
        if upheld:
            self.upheld_at = self.now

    @rule(
        case=cases,
        action=st.sampled_from(
            [
                Action.FILE,
                Action.DISPATCH,
                Action.ACCEPT,
                Action.RESOLVE,
                Action.VERIFY,
                Action.REJECT_RESOLUTION,
                Action.EXTEND,
                Action.SUSPEND,
                Action.APPROVE,
                Action.REFUSE_REQUEST,
                Action.ESCALATE,
                Action.DECLINE,
                Action.RESUME,
            ]
        ),
        length=st.sampled_from(LENGTHS),
        to_unit=st.booleans(),
    )
    def act(self, case: str, action: Action, length: str, to_unit: bool) -> None:
        tracked = self.tracked[case]
        actor = "sup-2" if action in (Action.APPROVE, Action.REFUSE_REQUEST, Action.RESUME) else "gw-1"
        kw: dict[str, Any] = {}
        if action in (Action.EXTEND, Action.SUSPEND):
            kw["length"] = length
        if action is Action.DISPATCH and not to_unit:
            kw["assignee"] = "gw-2"
        note = "理由" if action in REASONED else ""  # every action that must say why is given a reason
        try:
            transition(self.places.engine, uuid.UUID(case), action, actor, note, self.now, RULES, **kw)
        except CaseError:
            return
        if action in (Action.EXTEND, Action.SUSPEND):
            tracked.pending = ("extension" if action is Action.EXTEND else "suspension", length)
        elif action is Action.APPROVE:
            assert tracked.pending is not None
            tracked.approvals.append(tracked.pending)
            tracked.pending = None
        elif action is Action.REFUSE_REQUEST:
            tracked.pending = None

    def _areas(self) -> list[str]:
        return [code for _, code in self.places.grids] + self.places.communities + [self.places.street]

    def _figures(self, area: str, days: tuple[date, date], now: datetime) -> dict[str, Any]:
        key = (area, days, now)
        if now != LATER or key not in self.read:  # read a year later, a period is read once per example
            with self.places.engine.connect() as conn:
                self.read[key] = indicators(conn, area, days[0], days[1], RULES, now)
        return self.read[key]

    def teardown(self) -> None:
        if not self.tracked:
            return
        engine = self.places.engine
        first = START.date() - timedelta(days=START.weekday())
        periods = weeks(first, (self.now.date() - first).days // 7 + 2)  # every week the example reached, and one more
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.id::text AS id, c.grid_code, c.due_at, c.closed_on_time, c.state, t.action, t.at,"
                    ' t.to_state, t.to_level FROM "case" c LEFT JOIN case_transition t ON t.case_id = c.id'
                    " ORDER BY c.id, t.seq"
                )
            ).all()
        histories: dict[str, list[Any]] = {}
        for row in rows:
            histories.setdefault(row.id, [])
            if row.action is not None:
                histories[row.id].append(row)
        moments: dict[str, list[datetime]] = {}
        for case, history in histories.items():
            e = expected(history, self.tracked[case])
            head = next(r for r in rows if r.id == case)
            assert head.due_at == e.due, (case, [(h.action, h.at) for h in history])
            if e.closed is not None:  # late work is never on time, tick or no tick
                assert e.resolved is not None and e.due is not None
                assert head.closed_on_time == (e.resolved <= e.due), (case, e)
            if e.due is not None and not e.suspended:
                moments.setdefault(head.grid_code, []).append(e.due if e.closed is None else min(e.closed, e.due))
        for _, grid in self.places.grids:
            per_week = [self._figures(grid, p, LATER) for p in periods]
            for f in per_week:
                assert 0 <= f["closed_on_time"] <= f["closed"] <= f["due"]
                for key in ("closure_rate", "on_time_closure_rate", "extension_rate", "rework_rate"):
                    assert f[key] is None or 0 <= f[key] <= 1
            # each case due in at most one week: the weeks' due add up to the cases counted in them
            counted = 0
            for moment in moments.get(grid, []):
                inside = [p for p in periods if _in(moment, p)]
                assert len(inside) <= 1
                counted += len(inside)
            assert sum(f["due"] for f in per_week) == counted
        for monday, sunday in periods:
            street = self._figures(self.places.street, (monday, sunday), LATER)
            children = [self._figures(c, (monday, sunday), LATER) for c in self.places.communities]
            for community, f in zip(self.places.communities, children, strict=True):
                grids = [self._figures(g, (monday, sunday), LATER) for _, g in self.places.grids if g[:12] == community]
                assert {k: f[k] for k in COUNTS} == {k: sum(g[k] for g in grids) for k in COUNTS}
                with engine.connect() as conn:
                    week = Week.parse(f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}")
                    closeout = weekly_closeout(conn, community, week, RULES, LATER)["counts"]
                assert {k: closeout[k] for k in ("due", "closed", "closed_on_time", "overdue")} == {
                    k: f[k] for k in ("due", "closed", "closed_on_time", "overdue")
                }
            assert {k: street[k] for k in COUNTS} == {k: sum(c[k] for c in children) for k in COUNTS}
        for (area, monday), then in self.snapshots.items():
            now = self._figures(area, (monday, monday + timedelta(days=6)), LATER)
            if self.upheld_at is not None:  # an appeal decided later is the one thing that changes a past period
                now, then = ({k: v for k, v in f.items() if k not in AFTER_APPEALS} for f in (now, then))
            assert now == then, (area, monday)
        readings = [(self.places.street, self.places.communities)] + [  # the rolls per community, then per grid
            (c, [g for _, g in self.places.grids if g.startswith(c)]) for c in self.places.communities
        ]
        with engine.connect() as conn:  # the rolls count as the cases read one by one
            for period in periods:
                for area, children in readings:
                    rolled, one_by_one = (
                        indicators_by_area(conn, area, children, *period, RULES, LATER, rolls=r) for r in (True, False)
                    )
                    assert rolled == one_by_one, (area, period)


def _in(moment: datetime, period: tuple[date, date]) -> bool:
    start = datetime.combine(period[0], datetime.min.time(), TZ)
    end = datetime.combine(period[1] + timedelta(days=1), datetime.min.time(), TZ)
    return start <= moment < end


@pytest.mark.timeout(900)  # 200 examples take about 2 minutes here
def test_the_indicators_keep_their_promises_over_random_histories(places: Places) -> None:
    IndicatorMachine.places = places
    machine = IndicatorMachine.TestCase
    machine.settings = settings(
        max_examples=200,
        stateful_step_count=25,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is printed as found, in bounded time
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()
