"""The practice's indicators of an area over a period, as the README defines them."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

_CASES = """
SELECT
  count(*) AS cases,
  count(*) FILTER (WHERE c.closed_at IS NOT NULL) AS closed,
  count(*) FILTER (WHERE c.sla_class = 'minor') AS minor,
  count(*) FILTER (WHERE c.sla_class = 'minor' AND c.closed_at IS NOT NULL AND c.level = 'grid'
                   AND c.escalations = 0) AS minor_closed_in_grid,
  count(*) FILTER (WHERE c.closed_on_time) AS closed_on_time,
  count(*) FILTER (WHERE c.closed_at IS NOT NULL OR c.deadline <= :to) AS due,
  count(*) FILTER (WHERE c.deferred) AS deferred,
  count(*) FILTER (WHERE c.reworks > 0) AS reworked,
  avg(extract(epoch FROM c.closed_at - c.opened_at)) / 3600 AS mean_hours_to_close,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM c.closed_at - c.opened_at)) / 3600
    AS p90_hours_to_close
FROM "case" c WHERE c.grid_code LIKE :prefix AND c.opened_at >= :from AND c.opened_at < :to
"""
_ESCALATIONS = """
SELECT t.to_level, count(*) FROM case_transition t JOIN "case" c ON c.id = t.case_id
WHERE c.grid_code LIKE :prefix AND t.action IN ('escalate', 'auto_escalate') AND t.at >= :from AND t.at < :to
GROUP BY t.to_level
"""
_PATROL = """
SELECT count(DISTINCT (e.grid_code, (e.occurred_at AT TIME ZONE :tz)::date)) FROM event e
WHERE e.kind = 'patrol' AND e.grid_code LIKE :prefix AND e.occurred_at >= :from AND e.occurred_at < :to
"""
_RATINGS = """
SELECT count(*), avg(r.score) FROM rating r JOIN "case" c ON c.id = r.case_id
WHERE c.grid_code LIKE :prefix AND r.rated_at >= :from AND r.rated_at < :to
"""
_GRIDS = """
SELECT count(*) FROM active_area a
WHERE a.level = 'grid' AND a.code LIKE :prefix
"""


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def indicators(conn: Connection, code: str, start: datetime, end: datetime, days: int, tz: str) -> dict[str, Any]:
    """The indicators of one area over [start, end)."""
    params = {"prefix": code + "%", "from": start, "to": end, "tz": tz}
    c = conn.execute(text(_CASES), params).one()._mapping
    escalations = {level: n for level, n in conn.execute(text(_ESCALATIONS), params).all()}
    patrolled = conn.execute(text(_PATROL), params).scalar_one()
    grids = conn.execute(text(_GRIDS), params).scalar_one()
    ratings, mean_score = conn.execute(text(_RATINGS), params).one()
    return {
        "cases": c["cases"],
        "closed": c["closed"],
        "in_grid_closure_rate_minor": _ratio(c["minor_closed_in_grid"], c["minor"]),
        "closure_rate": _ratio(c["closed"], c["cases"]),
        "on_time_closure_rate": _ratio(c["closed_on_time"], c["due"] - c["deferred"]),
        "rework_rate": _ratio(c["reworked"], c["closed"]),
        "mean_hours_to_close": None if c["mean_hours_to_close"] is None else round(float(c["mean_hours_to_close"]), 3),
        "p90_hours_to_close": None if c["p90_hours_to_close"] is None else round(float(c["p90_hours_to_close"]), 3),
        "escalations": {level: escalations.get(level, 0) for level in ("community", "street", "department")},
        "patrol_coverage": _ratio(patrolled, grids * days),
        "ratings": ratings,
        "satisfaction": None if mean_score is None else round(float(mean_score), 3),
    }
