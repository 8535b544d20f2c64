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
from cases.rules import Rules

# Every query below is grouped twice in one reading (GROUPING SETS): by the first <CHILD> digits of where
# the case lies, and by the first <PARENT>; so one scan gives an area and each of its children.
_CHILD, _PARENT = f"left({PLACE_SQL}, <CHILD>)", f"left({PLACE_SQL}, <PARENT>)"
_AREA = f"CASE WHEN GROUPING({_CHILD}) = 0 THEN {_CHILD} ELSE {_PARENT} END"
_BOTH = f"GROUPING SETS (({_CHILD}), ({_PARENT}))"
# Each case once: received in the period (``rec``), and due in it (``due``: its counted_at lies in it,
# see cases.assessment); what happened to it is read as of the period's end (``asof``; now, if sooner).
_CASES = f"""
SELECT {_AREA} AS area,
  count(*) FILTER (WHERE rec) AS received,
  count(*) FILTER (WHERE rec AND c.filed_at < :asof) AS filed,
  count(*) FILTER (WHERE rec AND c.state = 'refused' AND c.closed_at < :asof) AS refused,
  count(*) FILTER (WHERE rec AND c.state = 'voided' AND c.closed_at < :asof) AS voided,
  count(*) FILTER (WHERE rec AND c.state = 'merged' AND c.closed_at < :asof) AS merged,
  count(*) FILTER (WHERE rec AND c.grid_code IS NULL) AS outside_grids,
  count(*) FILTER (WHERE rec AND c.sla_class = 'minor') AS minor,
  count(*) FILTER (WHERE rec AND c.sla_class = 'minor' AND closed AND c.level = 'grid' AND c.escalations = 0)
    AS minor_closed_in_grid,
  count(*) FILTER (WHERE due) AS due,
  count(*) FILTER (WHERE due AND closed) AS closed,
  count(*) FILTER (WHERE due AND closed AND on_time) AS closed_on_time,
  count(*) FILTER (WHERE due AND closed AND raw_on_time) AS closed_on_time_raw,
  count(*) FILTER (WHERE due AND closed AND upheld) AS appeals_upheld,
  count(*) FILTER (WHERE due AND NOT (closed AND on_time) AND c.due_at <= :asof) AS overdue,
  count(*) FILTER (WHERE due AND c.extended_at < :asof) AS extended,
  count(*) FILTER (WHERE due AND c.sla_class = 'urgent') AS urgent_due,
  count(*) FILTER (WHERE due AND c.sla_class = 'urgent' AND closed AND on_time) AS urgent_closed_on_time
FROM (
  SELECT c.*,
         c.opened_at >= :from AND c.opened_at < :to AS rec,
         coalesce(c.counted_at >= :from AND c.counted_at < :to, false) AS due,
         coalesce(c.state = 'closed' AND c.closed_at < :asof, false) AS closed,
         coalesce(c.resolved_at <= c.due_at, false) AS raw_on_time,
         coalesce(c.resolved_at <= c.due_at, false) OR coalesce(a.upheld, false) AS on_time,
         coalesce(a.upheld, false) AS upheld
  FROM "case" c LEFT JOIN appeal a ON a.case_id = c.id
  WHERE {IN_AREA} AND (CAST(:unit AS text) IS NULL OR c.department = :unit)
    AND ((c.opened_at >= :from AND c.opened_at < :to) OR (c.counted_at >= :from AND c.counted_at < :to))
) c
GROUP BY {_BOTH}
"""
_CHECKS = f"""
SELECT {_AREA} AS area, count(*) AS checks, count(*) FILTER (WHERE t.action = 'reject_resolution') AS failed
FROM case_transition t JOIN "case" c ON c.id = t.case_id
WHERE {IN_AREA} AND t.action IN ('verify', 'reject_resolution') AND t.at >= :from AND t.at < :to
GROUP BY {_BOTH}
"""
# Working hours from report to close, kept on each case when it closed (cases.store).
_CLOSED = f"""
SELECT {_AREA} AS area, avg(c.hours_to_close) AS mean,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY c.hours_to_close) AS p90
FROM "case" c
WHERE {IN_AREA} AND c.state = 'closed' AND c.closed_at >= :from AND c.closed_at < :to
GROUP BY {_BOTH}
"""
_ESCALATIONS = f"""
SELECT {_AREA} AS area, t.to_level, count(*) AS n FROM case_transition t JOIN "case" c ON c.id = t.case_id
WHERE {IN_AREA} AND t.action IN ('escalate', 'auto_escalate') AND t.at >= :from AND t.at < :to
GROUP BY GROUPING SETS (({_CHILD}, t.to_level), ({_PARENT}, t.to_level))
"""
# Grid-days with a check-in, per child area (a parent's are the sum of its children's).
_PATROL_DAYS = """
SELECT DISTINCT left(e.grid_code, <CHILD>) AS area, e.grid_code, (e.occurred_at AT TIME ZONE :tz)::date AS day
FROM event e
WHERE e.kind = 'patrol' AND e.grid_code LIKE :prefix AND e.occurred_at >= :from AND e.occurred_at < :to
"""
# Per responsible unit: each case sent to it in the period counts once (the clock's sign_in_overdue is no
# dispatch), signed on time when its first sign-in after that came by the sign-in deadline; and its checks.
_UNITS = f"""
SELECT CASE WHEN GROUPING(child) = 0 THEN child ELSE parent END AS area, unit, sum(dispatched) AS dispatched,
       sum(signed_on_time) AS signed_on_time, sum(checks) AS checks, sum(failed) AS failed
FROM (
  SELECT child, parent, unit, 1 AS dispatched, coalesce(signed_at <= sign_due, false)::int AS signed_on_time,
         0 AS checks, 0 AS failed
  FROM (
    SELECT DISTINCT ON (d.case_id) {_CHILD} AS child, {_PARENT} AS parent, c.department AS unit,
           d.deadline AS sign_due,
           (SELECT min(a.at) FROM case_transition a WHERE a.case_id = d.case_id AND a.seq > d.seq
              AND a.action = 'accept' AND a.at < :asof) AS signed_at
    FROM case_transition d JOIN "case" c ON c.id = d.case_id
    WHERE {IN_AREA} AND d.action IN ('dispatch', 'auto_intake') AND d.to_state = 'dispatched'
      AND d.to_level = 'department' AND d.at >= :from AND d.at < :to
    ORDER BY d.case_id, d.seq
  ) first_dispatch
  UNION ALL
  SELECT {_CHILD}, {_PARENT}, c.department, 0, 0, 1, (t.action = 'reject_resolution')::int
  FROM case_transition t JOIN "case" c ON c.id = t.case_id
  WHERE {IN_AREA} AND t.from_level = 'department' AND t.action IN ('verify', 'reject_resolution')
    AND t.at >= :from AND t.at < :to
) x
WHERE unit IS NOT NULL
GROUP BY GROUPING SETS ((child, unit), (parent, unit)) ORDER BY area, unit
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
    conn: Connection, prefix: str, length: int, first: date, last: date, rules: Rules, now: datetime, unit: str | None
) -> dict[str, dict[str, Any]]:
    """The case figures of the area ``prefix`` and of each area of ``length`` digits within it, in one reading."""
    params = _span(prefix, first, last, rules, now) | {"unit": unit}
    rows = conn.execute(_grouped(_CASES, length, len(prefix)), params).all()
    return {row.area: case_figures_of(row._mapping) for row in rows}


def _grouped(sql: str, child: int, parent: int) -> Any:
    """A query of this module with the lengths of the codes it groups by (whole numbers from the code)."""
    return text(sql.replace("<CHILD>", str(int(child))).replace("<PARENT>", str(int(parent))))


def case_figures_of(c: Any) -> dict[str, Any]:
    """One area's case figures from its row of ``_CASES`` (None: no case at all)."""
    c = c or {}
    n = {key: c.get(key, 0) for key in _CASE_KEYS}
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


_CASE_KEYS = (
    "received", "filed", "refused", "voided", "merged", "outside_grids", "minor", "minor_closed_in_grid", "due",
    "closed", "closed_on_time", "closed_on_time_raw", "appeals_upheld", "overdue", "extended", "urgent_due",
    "urgent_closed_on_time",
)  # fmt: skip


def indicators(conn: Connection, code: str, first: date, last: date, rules: Rules, now: datetime) -> dict[str, Any]:
    """The indicators of one area over the local days ``first`` to ``last``, inclusive."""
    return indicators_by_area(conn, code, [], first, last, rules, now)[code]


def indicators_by_area(
    conn: Connection, code: str, children: list[str], first: date, last: date, rules: Rules, now: datetime
) -> dict[str, dict[str, Any]]:
    """The indicators of the area ``code`` and of each of its ``children`` (codes of one length), in one reading."""
    length = len(children[0]) if children else len(code)
    params = _span(code, first, last, rules, now) | {"unit": None}

    def rows(sql: str) -> list[Any]:
        found = list(conn.execute(_grouped(sql, length, len(code)), params).all())
        return found if children else list(dict.fromkeys(found))  # no children: both groupings are the area

    cases = case_figures_by_area(conn, code, length, first, last, rules, now, None)
    checks = {r.area: (r.checks, r.failed) for r in rows(_CHECKS)}
    hours = {r.area: (r.mean, r.p90) for r in rows(_CLOSED)}
    escalations: dict[str, dict[str, int]] = {}
    for r in rows(_ESCALATIONS):
        escalations.setdefault(r.area, {})[r.to_level] = r.n
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
    units: dict[str, list[dict[str, Any]]] = {}
    for r in rows(_UNITS):
        units.setdefault(r.area, []).append(
            {
                "unit": r.unit,
                "dispatched": r.dispatched,
                "signed_on_time": r.signed_on_time,
                "sign_in_on_time_rate": ratio(r.signed_on_time, r.dispatched),
                "checks": r.checks,
                "rework_rate": ratio(r.failed, r.checks),
            }
        )
    found = {}
    for area in [code, *children]:
        figures = cases.get(area) or case_figures_of(None)
        checked, failed = checks.get(area, (0, 0))
        mean, p90 = hours.get(area, (None, None))
        rated, score = ratings.get(area, (0, None))
        found[area] = {
            "received": figures["received"],
            "open": open_cases.get(area, 0),
            **{k: v for k, v in figures.items() if k != "received"},
            "rework_rate": ratio(failed, checked),
            "mean_working_hours_to_close": None if mean is None else round(float(mean), 3),
            "p90_working_hours_to_close": None if p90 is None else round(float(p90), 3),
            "escalations": {
                level: escalations.get(area, {}).get(level, 0) for level in ("community", "street", "department")
            },
            "patrol_coverage": ratio(patrolled.get(area, 0), grids.get(area, 0) * len(required)),
            "ratings": rated,
            "satisfaction": None if score is None else round(float(score), 3),
            "units": units.get(area, []),
        }
    return found


def _span(code: str, first: date, last: date, rules: Rules, now: datetime | None = None) -> dict[str, Any]:
    tz = rules.calendar.tz
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    asof = end if now is None else min(end, now)
    return {"prefix": code + "%", "from": start, "to": end, "asof": asof, "tz": str(tz), "first": first, "last": last}


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
