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
from cases.rules import Rules

# A case counts in the area of its grid; one in a coverage gap (no grid), in the area that holds it.
IN_AREA = (
    "(c.grid_code LIKE :prefix OR (c.grid_code IS NULL"
    " AND coalesce(c.community_code, c.street_code, c.district_code) LIKE :prefix))"
)
# Each case once: received in the period (``rec``), and due in it (``due``: its counted_at lies in it,
# see cases.assessment); what happened to it is read as of the period's end (``asof``; now, if sooner).
_CASES = f"""
SELECT
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
"""
_CHECKS = f"""
SELECT count(*) AS checks, count(*) FILTER (WHERE t.action = 'reject_resolution') AS failed
FROM case_transition t JOIN "case" c ON c.id = t.case_id
WHERE {IN_AREA} AND t.action IN ('verify', 'reject_resolution') AND t.at >= :from AND t.at < :to
"""
_CLOSED = f"""
SELECT c.opened_at, c.closed_at FROM "case" c
WHERE {IN_AREA} AND c.state = 'closed' AND c.closed_at >= :from AND c.closed_at < :to
"""
_ESCALATIONS = f"""
SELECT t.to_level, count(*) FROM case_transition t JOIN "case" c ON c.id = t.case_id
WHERE {IN_AREA} AND t.action IN ('escalate', 'auto_escalate') AND t.at >= :from AND t.at < :to
GROUP BY t.to_level
"""
_PATROL_DAYS = """
SELECT DISTINCT e.grid_code, (e.occurred_at AT TIME ZONE :tz)::date AS day FROM event e
WHERE e.kind = 'patrol' AND e.grid_code LIKE :prefix AND e.occurred_at >= :from AND e.occurred_at < :to
"""
# Per responsible unit: each case sent to it in the period counts once (the clock's sign_in_overdue is no
# dispatch), signed on time when its first sign-in after that came by the sign-in deadline; and its checks.
_UNITS = f"""
SELECT unit, sum(dispatched) AS dispatched, sum(signed_on_time) AS signed_on_time,
       sum(checks) AS checks, sum(failed) AS failed
FROM (
  SELECT unit, 1 AS dispatched, coalesce(signed_at <= sign_due, false)::int AS signed_on_time, 0 AS checks,
         0 AS failed
  FROM (
    SELECT DISTINCT ON (d.case_id) c.department AS unit, d.deadline AS sign_due,
           (SELECT min(a.at) FROM case_transition a WHERE a.case_id = d.case_id AND a.seq > d.seq
              AND a.action = 'accept' AND a.at < :asof) AS signed_at
    FROM case_transition d JOIN "case" c ON c.id = d.case_id
    WHERE {IN_AREA} AND d.action IN ('dispatch', 'auto_intake') AND d.to_state = 'dispatched'
      AND d.to_level = 'department' AND d.at >= :from AND d.at < :to
    ORDER BY d.case_id, d.seq
  ) first_dispatch
  UNION ALL
  SELECT c.department, 0, 0, 1, (t.action = 'reject_resolution')::int
  FROM case_transition t JOIN "case" c ON c.id = t.case_id
  WHERE {IN_AREA} AND t.from_level = 'department' AND t.action IN ('verify', 'reject_resolution')
    AND t.at >= :from AND t.at < :to
) x
WHERE unit IS NOT NULL
GROUP BY unit ORDER BY unit
"""
_RATINGS = f"""
SELECT count(*), avg(r.score) FROM rating r JOIN "case" c ON c.id = r.case_id
WHERE {IN_AREA} AND r.rated_at >= :from AND r.rated_at < :to
"""
_OPEN = f"""
SELECT count(*) FROM "case" c
WHERE {IN_AREA} AND c.filed_at IS NOT NULL AND c.filed_at < least(:to, :now)
  AND c.state NOT IN ('refused', 'voided', 'merged') AND (c.closed_at IS NULL OR c.closed_at >= least(:to, :now))
"""
_DAILY = f"""
SELECT d.day::date AS day,
       (SELECT count(*) FROM "case" c WHERE {IN_AREA}
          AND (c.opened_at AT TIME ZONE :tz)::date = d.day::date) AS received,
       (SELECT count(*) FROM "case" c WHERE {IN_AREA} AND c.state = 'closed'
          AND (c.closed_at AT TIME ZONE :tz)::date = d.day::date) AS closed
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d(day)
ORDER BY d.day
"""
_MIX = f"""
SELECT c.category, count(*) FROM "case" c
WHERE {IN_AREA} AND c.opened_at >= :from AND c.opened_at < :to
GROUP BY c.category
"""
_GRIDS = """
SELECT count(*) FROM active_area a
WHERE a.level = 'grid' AND a.code LIKE :prefix
"""


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator ÷ denominator`` to 4 places; None when there is nothing to divide by."""
    return round(numerator / denominator, 4) if denominator else None


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` percentile with linear interpolation between ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def working_days(rules: Rules, first: date, last: date) -> list[date]:
    """The working days from ``first`` to ``last``, inclusive: the days a grid must be patrolled."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [day for day in days if rules.calendar.is_workday(day)]


def case_figures(
    conn: Connection, code: str, first: date, last: date, rules: Rules, now: datetime, unit: str | None = None
) -> dict[str, Any]:
    """The case counts and rates of one area over the local days ``first`` to ``last`` (of ``unit``'s cases only)."""
    params = _span(code, first, last, rules) | {"now": now, "unit": unit}
    params["asof"] = min(params["to"], now)
    c = conn.execute(text(_CASES), params).one()._mapping
    return {
        "received": c["received"],
        "received_outside_grids": c["outside_grids"],
        "filed": c["filed"],
        "not_filed": {"refused": c["refused"], "voided": c["voided"], "merged": c["merged"]},
        "due": c["due"],
        "closed": c["closed"],
        "closed_on_time": c["closed_on_time"],
        "closed_on_time_raw": c["closed_on_time_raw"],
        "appeals_upheld": c["appeals_upheld"],
        "overdue": c["overdue"],
        "closure_rate": ratio(c["closed"], c["due"]),
        "on_time_closure_rate": ratio(c["closed_on_time"], c["due"]),
        "extension_rate": ratio(c["extended"], c["due"]),
        "in_grid_closure_rate_minor": ratio(c["minor_closed_in_grid"], c["minor"]),
        "urgent": {
            "due": c["urgent_due"],
            "closed_on_time": c["urgent_closed_on_time"],
            "on_time_closure_rate": ratio(c["urgent_closed_on_time"], c["urgent_due"]),
        },
    }


def indicators(conn: Connection, code: str, first: date, last: date, rules: Rules, now: datetime) -> dict[str, Any]:
    """The indicators of one area over the local days ``first`` to ``last``, inclusive."""
    params = _span(code, first, last, rules) | {"now": now}
    params["asof"] = min(params["to"], now)
    cases = case_figures(conn, code, first, last, rules, now)
    checks, failed = conn.execute(text(_CHECKS), params).one()
    hours = [
        rules.calendar.between(opened, closed).total_seconds() / 3600
        for opened, closed in conn.execute(text(_CLOSED), params).all()
    ]
    escalations = {level: n for level, n in conn.execute(text(_ESCALATIONS), params).all()}
    required = set(working_days(rules, first, last))
    patrolled = sum(day in required for _, day in conn.execute(text(_PATROL_DAYS), params).all())
    grids = conn.execute(text(_GRIDS), params).scalar_one()
    ratings, mean_score = conn.execute(text(_RATINGS), params).one()
    units = [
        {
            "unit": unit,
            "dispatched": dispatched,
            "signed_on_time": signed,
            "sign_in_on_time_rate": ratio(signed, dispatched),
            "checks": unit_checks,
            "rework_rate": ratio(unit_failed, unit_checks),
        }
        for unit, dispatched, signed, unit_checks, unit_failed in conn.execute(text(_UNITS), params).all()
    ]
    p90 = percentile(hours, 0.9)
    return {
        "received": cases["received"],
        "open": conn.execute(text(_OPEN), params).scalar_one(),
        **{k: v for k, v in cases.items() if k != "received"},
        "rework_rate": ratio(failed, checks),
        "mean_working_hours_to_close": round(sum(hours) / len(hours), 3) if hours else None,
        "p90_working_hours_to_close": None if p90 is None else round(p90, 3),
        "escalations": {level: escalations.get(level, 0) for level in ("community", "street", "department")},
        "patrol_coverage": ratio(patrolled, grids * len(required)),
        "ratings": ratings,
        "satisfaction": None if mean_score is None else round(float(mean_score), 3),
        "units": units,
    }


def _span(code: str, first: date, last: date, rules: Rules) -> dict[str, Any]:
    tz = rules.calendar.tz
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    return {"prefix": code + "%", "from": start, "to": end, "tz": str(tz), "first": first, "last": last}


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
