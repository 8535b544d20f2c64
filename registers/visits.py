"""The visits due in a grid and the visit coverage of an area, from the registers and the visit events."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from registers.cadence import Cadence, Coverage, VisitRules, coverage, due_by, period_of, status

_HOUSEHOLDS = """
SELECT h.id, h.address, h.grid_code, h.members, h.tags, h.registered_on,
       (SELECT max(e.occurred_at) FROM event e WHERE e.kind = 'visit' AND e.household = h.id
          AND e.occurred_at < :until) AS last_visit
FROM household h
WHERE h.grid_code LIKE :prefix
ORDER BY h.id
"""
# The quarter's visits read once and grouped by household (a month lies inside its quarter), not probed
# household by household, and the households counted in groups of the same tags, registration day and
# visits, not one by one in Python: a district's 400,000 households took 6.7 s the old way
# (bench/read_side.py). A household's id begins with its building's code, which begins with its grid's:
# the prefix narrows both.
_IN_PERIODS = """
SELECT h.tags, h.registered_on, coalesce(v.in_month, false) AS in_month, v.household IS NOT NULL AS in_quarter,
       count(*) AS n
FROM household h
LEFT JOIN (
  SELECT e.household, bool_or(e.occurred_at >= :month_from) AS in_month
  FROM event e
  WHERE e.kind = 'visit' AND e.occurred_at >= :quarter_from AND e.occurred_at < :until AND e.household LIKE :prefix
  GROUP BY e.household
) v ON v.household = h.id
WHERE h.grid_code LIKE :prefix
GROUP BY 1, 2, 3, 4
"""


# For the map's count of overdue households per grid: the households grouped by grid, tags, registration day and
# the month of their last visit (the due date depends on the visit's month or quarter alone), so a district's
# 400,000 households are a few thousand groups (6.8 s one by one, bench/read_side.py).
_OVERDUE_GROUPS = """
SELECT h.grid_code, h.tags, h.registered_on,
       CAST(date_trunc('month', v.last AT TIME ZONE :tz) AS date) AS last_month, count(*) AS n
FROM household h
LEFT JOIN (
  SELECT e.household, max(e.occurred_at) AS last FROM event e
  WHERE e.kind = 'visit' AND e.occurred_at < :until AND e.household LIKE :prefix
  GROUP BY e.household
) v ON v.household = h.id
WHERE h.grid_code LIKE :prefix
GROUP BY 1, 2, 3, 4
"""


@dataclass(frozen=True)
class DueVisit:
    """A household of a grid, when its next visit is due and whether that is overdue."""

    household: str
    address: str
    grid: str
    members: int
    tags: list[str]
    cadence: Cadence
    last_visit: date | None
    due_by: date
    status: str


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tz)


def due_visits(conn: Connection, prefix: str, today: date, rules: VisitRules, tz: ZoneInfo) -> list[DueVisit]:
    """The households under the area ``prefix`` with their next visit, most overdue first."""
    rows = conn.execute(
        text(_HOUSEHOLDS), {"prefix": prefix + "%", "until": _midnight(today + timedelta(days=1), tz)}
    ).all()
    due = []
    for row in rows:
        cadence = rules.cadence_of(row.tags)
        last = row.last_visit.astimezone(tz).date() if row.last_visit else None
        by = due_by(cadence, row.registered_on, last)
        due.append(
            DueVisit(
                row.id, row.address, row.grid_code, row.members, list(row.tags), cadence, last, by, status(by, today)
            )
        )
    return sorted(due, key=lambda d: (d.due_by, d.household))


def overdue_per_grid(conn: Connection, prefix: str, today: date, rules: VisitRules, tz: ZoneInfo) -> dict[str, int]:
    """How many households of each grid under ``prefix`` have a visit overdue (grids with none are left out).

    The same rule as the due list (``due_by`` of the last visit), counted in groups of households alike.
    """
    params = {"prefix": prefix + "%", "until": _midnight(today + timedelta(days=1), tz), "tz": str(tz)}
    counts: dict[str, int] = {}
    for row in conn.execute(text(_OVERDUE_GROUPS), params):
        if status(due_by(rules.cadence_of(row.tags), row.registered_on, row.last_month), today) == "overdue":
            counts[row.grid_code] = counts.get(row.grid_code, 0) + row.n
    return counts


def visit_coverage(
    conn: Connection, prefix: str, day: date, rules: VisitRules, tz: ZoneInfo
) -> dict[Cadence, Coverage]:
    """For each cadence, the households of the area due in the period that holds ``day``, and those visited by then."""
    params = {
        "prefix": prefix + "%",
        "month_from": _midnight(period_of(Cadence.MONTHLY, day)[0], tz),
        "quarter_from": _midnight(period_of(Cadence.QUARTERLY, day)[0], tz),
        "until": _midnight(day + timedelta(days=1), tz),
    }
    households = []
    for row in conn.execute(text(_IN_PERIODS), params).all():
        kind = rules.cadence_of(row.tags)
        visited = row.in_month if kind is Cadence.MONTHLY else row.in_quarter
        households.append((kind, row.registered_on, visited, row.n))
    return {kind: coverage(households, kind, day) for kind in Cadence}
