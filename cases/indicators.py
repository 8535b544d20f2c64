"""The practice's indicators of an area over a period, as the README defines them.

A late case whose appeal (超时申诉) was upheld counts as closed on time; ``closed_on_time_raw``
keeps the count without appeals. An appeal decided later is the one thing that changes a
past period.

A case counts in 应结案数 (``due``) in the one period that holds its ``counted_at``: its due
moment (the fix deadline set at filing, moved only by extensions and suspensions approved in
time), or its close when that came first (``cases.assessment``). 结案数 and 按期结案数 count
only due cases, so both rates lie between 0 and 1. Everything is read as of the period's
end (or now, for a period not over yet), so a past period reads the same on any later day.
"""

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from cases.categories import default_categories
from cases.places import IN_AREA, PLACE_SQL
from cases.rollup import GRAINS, HOURS_STEP, TRANSITION_FACTS, percentile
from cases.rules import Rules

# Every query below is grouped twice in one reading (GROUPING SETS): by the first <CHILD> digits of where
# the case lies, and by the first <PARENT>; so one scan gives an area and each of its children. Cases are
# read one by one where <LIVE> holds (all, or those not rolled); <ROLLED> adds the rolls' sums of the rest
# (cases.rollup), which count the same: a period's days, and as of its end the days things happened before.
_CHILD, _PARENT = f"left({PLACE_SQL}, <CHILD>)", f"left({PLACE_SQL}, <PARENT>)"
_AREA = f"CASE WHEN GROUPING({_CHILD}) = 0 THEN {_CHILD} ELSE {_PARENT} END"
_BOTH = f"GROUPING SETS (({_CHILD}), ({_PARENT}))"
_EITHER = "CASE WHEN GROUPING(child) = 0 THEN child ELSE parent END"
_FIGURES = (
    "received", "filed", "refused", "voided", "merged", "outside_grids", "minor", "minor_closed_in_grid", "due",
    "closed", "closed_on_time", "closed_on_time_raw", "appeals_upheld", "overdue", "extended", "urgent_due",
    "urgent_closed_on_time",
)  # fmt: skip
# Each case once: received in the period (``rec``), and due in it (``due``: its counted_at lies in it,
# see cases.assessment); what happened to it is read as of the period's end (``asof``; now, if sooner).
_CASES = f"""
SELECT {_EITHER} AS area, {", ".join(f"sum({name}) AS {name}" for name in _FIGURES)}
FROM (
  SELECT {_CHILD} AS child, {_PARENT} AS parent, rec::int AS received, (rec AND c.filed_at < :asof)::int AS filed,
    (rec AND c.state = 'refused' AND c.closed_at < :asof)::int AS refused,
    (rec AND c.state = 'voided' AND c.closed_at < :asof)::int AS voided,
    (rec AND c.state = 'merged' AND c.closed_at < :asof)::int AS merged,
    (rec AND c.grid_code IS NULL)::int AS outside_grids, (rec AND c.sla_class = 'minor')::int AS minor,
    (rec AND c.sla_class = 'minor' AND closed AND c.level = 'grid' AND c.escalations = 0)::int AS minor_closed_in_grid,
    due::int AS due, (due AND closed)::int AS closed, (due AND closed AND on_time)::int AS closed_on_time,
    (due AND closed AND raw_on_time)::int AS closed_on_time_raw, (due AND closed AND upheld)::int AS appeals_upheld,
    (due AND NOT (closed AND on_time) AND c.due_at <= :asof)::int AS overdue,
    (due AND c.extended_at < :asof)::int AS extended, (due AND c.sla_class = 'urgent')::int AS urgent_due,
    (due AND c.sla_class = 'urgent' AND closed AND on_time)::int AS urgent_closed_on_time
  FROM (
    SELECT c.*,
           c.opened_at >= :from AND c.opened_at < :to AS rec,
           coalesce(c.counted_at >= :from AND c.counted_at < :to, false) AS due,
           coalesce(c.state = 'closed' AND c.closed_at < :asof, false) AS closed,
           coalesce(c.resolved_at <= c.due_at, false) AS raw_on_time,
           coalesce(c.resolved_at <= c.due_at, false) OR coalesce(a.upheld, false) AS on_time,
           coalesce(a.upheld, false) AS upheld
    FROM "case" c LEFT JOIN appeal a ON a.case_id = c.id
    WHERE {IN_AREA} AND <LIVE> AND (CAST(:unit AS text) IS NULL OR c.department = :unit)
      AND ((c.opened_at >= :from AND c.opened_at < :to) OR (c.counted_at >= :from AND c.counted_at < :to))
  ) c
  <ROLLED>
) x
GROUP BY GROUPING SETS ((child), (parent))
"""
_ROLLED_CASES = """
  UNION ALL
  SELECT left(r.area, <CHILD>), left(r.area, <PARENT>), rec * n, rec * filed_by * n, rec * closed_by * refused,
    rec * closed_by * voided, rec * closed_by * merged, rec * outside, rec * minor, rec * closed_by * minor_in_grid,
    due * n, due * closed_by * closed, due * closed_by * on_time, due * closed_by * raw_on_time,
    due * closed_by * upheld, due * (n - closed_by * on_time), due * extended_by * n, due * urgent,
    due * closed_by * urgent_on_time
  FROM (SELECT r.*, (r.role = 'r')::int AS rec, (r.role = 'd')::int AS due,
               coalesce(r.closed_day < :asof_day, false)::int AS closed_by,
               coalesce(r.filed_day < :asof_day, false)::int AS filed_by,
               coalesce(r.extended_day < :asof_day, false)::int AS extended_by
        FROM case_roll r WHERE r.grain = <GRAIN> AND r.area LIKE :prefix AND r.day BETWEEN :first AND :last) r
"""
# The facts of the period's transitions (cases.rollup.TRANSITION_FACTS): checks, escalations, dispatches.
_TRANSITIONS = f"""
SELECT {_EITHER} AS area, kind, unit, sum(n) AS n FROM (
  SELECT left(f.place, <CHILD>) AS child, left(f.place, <PARENT>) AS parent, f.kind, f.unit, 1 AS n
  FROM ({TRANSITION_FACTS.replace("<DRIVE>", f"{IN_AREA} AND <LIVE> AND t.at >= :from AND t.at < :to")}) f
  WHERE f.since IS NULL OR f.since < :asof
  <ROLLED>
) x
GROUP BY GROUPING SETS ((child, kind, unit), (parent, kind, unit))
"""
_ROLLED_TRANSITIONS = """
  UNION ALL
  SELECT left(r.area, <CHILD>), left(r.area, <PARENT>), r.kind, r.unit, r.n FROM transition_roll r
  WHERE r.grain = <GRAIN> AND r.area LIKE :prefix AND r.day BETWEEN :first AND :last
    AND coalesce(r.since_day < :asof_day, true)
"""
# Working hours from report to close, kept on each case when it closed (cases.store), rounded as the rolls keep
# them (cases.rollup.HOURS_STEP) for the 90th percentile; their exact sum for the mean.
_HOURS = f"""
SELECT {_EITHER} AS area, hours, sum(n) AS n, sum(total) AS total FROM (
  SELECT {_CHILD} AS child, {_PARENT} AS parent, {HOURS_STEP.format(h="c.hours_to_close")} AS hours, 1 AS n,
         c.hours_to_close AS total
  FROM "case" c
  WHERE {IN_AREA} AND <LIVE> AND c.state = 'closed' AND c.closed_at >= :from AND c.closed_at < :to
    AND c.hours_to_close IS NOT NULL
  <ROLLED>
) x
GROUP BY GROUPING SETS ((child, hours), (parent, hours))
"""
_ROLLED_HOURS = """
  UNION ALL
  SELECT left(r.area, <CHILD>), left(r.area, <PARENT>), r.hours, r.n, r.total FROM hours_roll r
  WHERE r.grain = <GRAIN> AND r.area LIKE :prefix AND r.day BETWEEN :first AND :last
"""
_ROLLED = {_CASES: _ROLLED_CASES, _TRANSITIONS: _ROLLED_TRANSITIONS, _HOURS: _ROLLED_HOURS}
# Grid-days with a check-in, per child area (a parent's are the sum of its children's).
_PATROL_DAYS = """
SELECT DISTINCT left(e.grid_code, <CHILD>) AS area, e.grid_code, (e.occurred_at AT TIME ZONE :tz)::date AS day
FROM event e
WHERE e.kind = 'patrol' AND e.grid_code LIKE :prefix AND e.occurred_at >= :from AND e.occurred_at < :to
"""
_RATINGS = f"""
SELECT {_AREA} AS area, count(*) AS ratings, avg(r.score) AS score FROM rating r JOIN "case" c ON c.id = r.case_id
WHERE {IN_AREA} AND r.rated_at >= :from AND r.rated_at < :to
GROUP BY {_BOTH}
"""
# Open at the period's end: still open (few, indexed), or closed only after the end (through closed_at's index).
_OPEN = f"""
SELECT CASE WHEN GROUPING(child) = 0 THEN child ELSE parent END AS area, count(*) AS n FROM (
  SELECT {_CHILD} AS child, {_PARENT} AS parent FROM "case" c
  WHERE {IN_AREA} AND c.closed_at IS NULL AND c.filed_at < :asof
  UNION ALL
  SELECT {_CHILD}, {_PARENT} FROM "case" c WHERE {IN_AREA} AND c.closed_at >= :asof AND c.filed_at < :asof
    AND c.state NOT IN ('refused', 'voided', 'merged')
) o
GROUP BY GROUPING SETS ((child), (parent))
"""
# Reports not taken in yet (待受理), and those of them past their intake deadline (超时未受理): now only.
_BACKLOG = f"""
SELECT {_EITHER} AS area, count(*) AS awaiting_intake, count(*) FILTER (WHERE late) AS intake_overdue FROM (
  SELECT {_CHILD} AS child, {_PARENT} AS parent, (c.overdue OR c.deadline <= :now) AS late
  FROM "case" c WHERE c.state = 'reported' AND {IN_AREA}
) b
GROUP BY GROUPING SETS ((child), (parent))
"""
_DAILY = f"""
SELECT d.day::date AS day, coalesce(r.n, 0) AS received, coalesce(x.n, 0) AS closed
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d(day)
LEFT JOIN (SELECT (c.opened_at AT TIME ZONE :tz)::date AS day, count(*) AS n FROM "case" c
           WHERE {IN_AREA} AND c.opened_at >= :from AND c.opened_at < :to GROUP BY 1) r ON r.day = d.day::date
LEFT JOIN (SELECT (c.closed_at AT TIME ZONE :tz)::date AS day, count(*) AS n FROM "case" c
           WHERE {IN_AREA} AND c.state = 'closed' AND c.closed_at >= :from AND c.closed_at < :to GROUP BY 1) x
       ON x.day = d.day::date
ORDER BY d.day
"""
_MIX = f"""
SELECT c.category, count(*) FROM "case" c
WHERE {IN_AREA} AND c.opened_at >= :from AND c.opened_at < :to
GROUP BY c.category
"""
_GRIDS = """
SELECT left(a.code, <CHILD>) AS area, count(*) AS n FROM active_area a
WHERE a.level = 'grid' AND a.code LIKE :prefix
GROUP BY area
"""


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator ÷ denominator`` to 4 places; None when there is nothing to divide by."""
    return round(numerator / denominator, 4) if denominator else None


def working_days(rules: Rules, first: date, last: date) -> list[date]:
    """The working days from ``first`` to ``last``, inclusive: the days a grid must be patrolled."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [day for day in days if rules.calendar.is_workday(day)]


def case_figures(
    conn: Connection, code: str, first: date, last: date, rules: Rules, now: datetime, unit: str | None = None
) -> dict[str, Any]:
    """The case counts and rates of one area over the local days ``first`` to ``last`` (of ``unit``'s cases only)."""
    return case_figures_by_area(conn, code, len(code), first, last, rules, now, unit).get(code) or case_figures_of(None)


def case_figures_by_area(
    conn: Connection,
    prefix: str,
    length: int,
    first: date,
    last: date,
    rules: Rules,
    now: datetime,
    unit: str | None,
    rolls: bool = True,
) -> dict[str, dict[str, Any]]:
    """The case figures of the area ``prefix`` and of each area of ``length`` digits within it, in one reading.

    ``rolls=False`` reads every case one by one (the same figures, slower: the tests compare the two).
    """
    params = _span(prefix, first, last, rules, now) | {"unit": unit}
    rolled = rolls and unit is None
    rows = conn.execute(_grouped(_CASES, length, len(prefix), rolled), params).all()
    return {row.area: case_figures_of(row._mapping) for row in rows}


def _grouped(sql: str, child: int, parent: int, rolled: bool = False) -> Any:
    """A query of this module with the lengths of the codes it groups by, reading the rolls if ``rolled``."""
    grain = next(g for g in GRAINS if child <= g or g == GRAINS[-1])  # the coarsest rolls that hold the children
    sql = sql.replace("<ROLLED>", _ROLLED.get(sql, "") if rolled else "").replace("<GRAIN>", str(grain))
    sql = sql.replace("<LIVE>", "NOT c.rolled" if rolled else "true")
    return text(sql.replace("<CHILD>", str(int(child))).replace("<PARENT>", str(int(parent))))


def case_figures_of(c: Any) -> dict[str, Any]:
    """One area's case figures from its row of ``_CASES`` (None: no case at all)."""
    c = c or {}
    n = {key: int(c.get(key) or 0) for key in _FIGURES}  # a sum over no true case is NULL
    return {
        "received": n["received"],
        "received_outside_grids": n["outside_grids"],
        "filed": n["filed"],
        "not_filed": {"refused": n["refused"], "voided": n["voided"], "merged": n["merged"]},
        "due": n["due"],
        "closed": n["closed"],
        "closed_on_time": n["closed_on_time"],
        "closed_on_time_raw": n["closed_on_time_raw"],
        "appeals_upheld": n["appeals_upheld"],
        "overdue": n["overdue"],
        "closure_rate": ratio(n["closed"], n["due"]),
        "on_time_closure_rate": ratio(n["closed_on_time"], n["due"]),
        "extension_rate": ratio(n["extended"], n["due"]),
        "in_grid_closure_rate_minor": ratio(n["minor_closed_in_grid"], n["minor"]),
        "urgent": {
            "due": n["urgent_due"],
            "closed_on_time": n["urgent_closed_on_time"],
            "on_time_closure_rate": ratio(n["urgent_closed_on_time"], n["urgent_due"]),
        },
    }


def indicators(conn: Connection, code: str, first: date, last: date, rules: Rules, now: datetime) -> dict[str, Any]:
    """The indicators of one area over the local days ``first`` to ``last``, inclusive."""
    return indicators_by_area(conn, code, [], first, last, rules, now)[code]


def indicators_by_area(
    conn: Connection,
    code: str,
    children: list[str],
    first: date,
    last: date,
    rules: Rules,
    now: datetime,
    rolls: bool = True,
) -> dict[str, dict[str, Any]]:
    """The indicators of the area ``code`` and of each of its ``children`` (codes of one length), in one reading."""
    length = len(children[0]) if children else len(code)
    params = _span(code, first, last, rules, now) | {"unit": None}

    def rows(sql: str) -> list[Any]:
        found = list(conn.execute(_grouped(sql, length, len(code), rolls), params).all())
        return found if children else list(dict.fromkeys(found))  # no children: both groupings are the area

    cases = case_figures_by_area(conn, code, length, first, last, rules, now, None, rolls)
    facts: dict[str, dict[tuple[str, str | None], int]] = {}
    for r in rows(_TRANSITIONS):
        facts.setdefault(r.area, {})[r.kind, r.unit] = int(r.n)
    hours: dict[str, list[tuple[float, int]]] = {}
    totals: dict[str, tuple[int, float]] = {}
    for r in rows(_HOURS):
        hours.setdefault(r.area, []).append((r.hours, int(r.n)))
        n, total = totals.get(r.area, (0, 0.0))
        totals[r.area] = (n + int(r.n), total + r.total)
    required = set(working_days(rules, first, last))
    patrolled: dict[str, int] = {}
    for r in rows(_PATROL_DAYS):
        patrolled[r.area] = patrolled.get(r.area, 0) + (r.day in required)
    grids = {r.area: r.n for r in rows(_GRIDS)}
    if children:  # grid-days and grids of the area: its children's, summed
        patrolled[code] = sum(patrolled.values())
        grids[code] = sum(grids.values())
    ratings = {r.area: (r.ratings, r.score) for r in rows(_RATINGS)}
    open_cases = {r.area: r.n for r in rows(_OPEN)}
    found = {}
    for area in [code, *children]:
        figures = cases.get(area) or case_figures_of(None)
        fact = facts.get(area, {})
        closes, total = totals.get(area, (0, 0.0))
        p90 = percentile(hours.get(area, []), 0.9)
        rated, score = ratings.get(area, (0, None))
        found[area] = {
            "received": figures["received"],
            "open": open_cases.get(area, 0),
            **{k: v for k, v in figures.items() if k != "received"},
            "rework_rate": ratio(fact.get(("failed", None), 0), fact.get(("check", None), 0)),
            "mean_working_hours_to_close": round(total / closes, 3) if closes else None,
            "p90_working_hours_to_close": None if p90 is None else round(p90, 3),
            "escalations": {level: fact.get((f"esc:{level}", None), 0) for level in _ESCALATED_TO},
            "patrol_coverage": ratio(patrolled.get(area, 0), grids.get(area, 0) * len(required)),
            "ratings": rated,
            "satisfaction": None if score is None else round(float(score), 3),
            "units": unit_figures(fact),
        }
    return found


_ESCALATED_TO = ("community", "street", "department")


def unit_figures(fact: dict[tuple[str, str | None], int]) -> list[dict[str, Any]]:
    """Per responsible unit: cases sent to it, signed for on time, its checks and its rework rate, by unit name."""
    units = sorted({unit for kind, unit in fact if unit is not None})
    return [
        {
            "unit": unit,
            "dispatched": fact.get(("dispatched", unit), 0),
            "signed_on_time": fact.get(("signed", unit), 0),
            "sign_in_on_time_rate": ratio(fact.get(("signed", unit), 0), fact.get(("dispatched", unit), 0)),
            "checks": fact.get(("unit_check", unit), 0),
            "rework_rate": ratio(fact.get(("unit_failed", unit), 0), fact.get(("unit_check", unit), 0)),
        }
        for unit in units
    ]


def _span(code: str, first: date, last: date, rules: Rules, now: datetime | None = None) -> dict[str, Any]:
    tz = rules.calendar.tz
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    asof = end if now is None else min(end, now)
    return {
        "prefix": code + "%",
        "from": start,
        "to": end,
        "asof": asof,
        "asof_day": asof.astimezone(tz).date(),
        "tz": str(tz),
        "first": first,
        "last": last,
    }


def daily(conn: Connection, code: str, first: date, last: date, rules: Rules) -> list[dict[str, Any]]:
    """Each local day from ``first`` to ``last``: reports received (cases opened) and cases closed that day."""
    rows = conn.execute(text(_DAILY), _span(code, first, last, rules)).all()
    return [{"day": day, "received": received, "closed": closed} for day, received, closed in rows]


def category_mix(conn: Connection, code: str, first: date, last: date, rules: Rules) -> list[dict[str, Any]]:
    """Reports received over the days, by category group, most first."""
    groups: dict[str, dict[str, Any]] = {}
    known = default_categories()
    for category, n in conn.execute(text(_MIX), _span(code, first, last, rules)).all():
        c = known.get(category)
        key, name = (c.group, c.group_name) if c else ("unknown", category)
        groups.setdefault(key, {"group": key, "group_name": name, "received": 0})["received"] += n
    return sorted(groups.values(), key=lambda g: (-g["received"], g["group"]))


def intake_backlog(conn: Connection, code: str, children: list[str], now: datetime) -> dict[str, dict[str, int]]:
    """Now, for the area ``code`` and each of its ``children``: reports waiting to be taken in, and those late."""
    length = len(children[0]) if children else len(code)
    rows = conn.execute(_grouped(_BACKLOG, length, len(code)), {"prefix": code + "%", "now": now}).all()
    found = {r.area: {"awaiting_intake": int(r.awaiting_intake), "intake_overdue": int(r.intake_overdue)} for r in rows}
    none = {"awaiting_intake": 0, "intake_overdue": 0}
    return {area: found.get(area, none) for area in [code, *children]}
