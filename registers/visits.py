"""The visits due in a grid and the visit coverage of an area, from the registers and the visit events."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from registers.cadence import Cadence, Coverage, VisitRules, coverage, due_by, period_of, status

# Each household's latest visit before :until (``{last}`` after ``{visits}``): kept on the household (the writer
# keeps it), or, for a day before today (a visit recorded since would count), read from the visit events (those
# from ``since`` on), once and grouped by household. A household's id begins with its building's code, which
# begins with its grid's: the prefix narrows both.
_VISITS = (
    "LEFT JOIN (SELECT e.household, max(e.occurred_at) AS last FROM event e WHERE e.kind = 'visit'"
    " AND e.occurred_at >= {since} AND e.occurred_at < :until AND e.household LIKE :prefix GROUP BY e.household)"
    " v ON v.household = h.id"
)
_KEPT = {"last": "h.last_visit_at", "visits": ""}
_READ = {"last": "v.last", "visits": _VISITS.format(since="'-infinity'")}

_HOUSEHOLDS = """
SELECT h.id, h.address, h.grid_code, h.members, h.tags, h.registered_on, {last} AS last_visit
FROM household h {visits}
WHERE h.grid_code LIKE :prefix
ORDER BY h.id
"""
# The households counted in groups of the same tags, registration day and visits, not one by one in Python:
# a district's 400,000 households took 6.7 s that way (bench/read_side.py).
_IN_PERIODS = """
SELECT h.tags, h.registered_on, coalesce(v.last >= :month_from, false) AS in_month,
       coalesce(v.last >= :quarter_from, false) AS in_quarter, count(*) AS n
FROM household h {visits}
WHERE h.grid_code LIKE :prefix
GROUP BY 1, 2, 3, 4
"""
# The same from the households' roll (db.register_tables.household_visit_roll): a visit in the month or quarter
# is a latest visit in a month from its first on.
_IN_PERIODS_ROLLED = """
SELECT tags, registered_on, coalesce(last_month >= :month_first, false) AS in_month,
       coalesce(last_month >= :quarter_first, false) AS in_quarter, sum(n) AS n
FROM household_visit_roll
WHERE grid_code LIKE :prefix AND n > 0
GROUP BY 1, 2, 3, 4
"""


# For the map's count of overdue households per grid: the households grouped by grid, tags, registration day and
# the month of their last visit (the due date depends on the visit's month or quarter alone), so a district's
# 400,000 households are a few thousand groups (6.8 s one by one, bench/read_side.py).
_OVERDUE_ROLLED = """
SELECT grid_code, tags, registered_on, last_month, n FROM household_visit_roll WHERE grid_code LIKE :prefix AND n > 0
"""
_OVERDUE_GROUPS = """
SELECT h.grid_code, h.tags, h.registered_on, CAST(date_trunc('month', v.last AT TIME ZONE :tz) AS date) AS last_month,
       count(*) AS n
FROM household h {visits}
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


def _kept(until: datetime, from_events: bool) -> bool:
    """Whether the latest visits kept on the households are those before ``until`` (not past, not asked otherwise)."""
    return not from_events and until > datetime.now(UTC)


def _with_last(sql: str, until: datetime, from_events: bool) -> str:
    """``sql`` reading each household's latest visit before ``until``: kept, unless ``until`` is past or asked."""
    return sql.format(**(_KEPT if _kept(until, from_events) else _READ))


def due_visits(
    conn: Connection, prefix: str, today: date, rules: VisitRules, tz: ZoneInfo, *, from_events: bool = False
) -> list[DueVisit]:
    """The households under the area ``prefix`` with their next visit, most overdue first."""
    until = _midnight(today + timedelta(days=1), tz)
    rows = conn.execute(
        text(_with_last(_HOUSEHOLDS, until, from_events)), {"prefix": prefix + "%", "until": until}
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


def overdue_per_grid(
    conn: Connection, prefix: str, today: date, rules: VisitRules, tz: ZoneInfo, *, from_events: bool = False
) -> dict[str, int]:
    """How many households of each grid under ``prefix`` have a visit overdue (grids with none are left out).

    The same rule as the due list (``due_by`` of the last visit), counted in groups of households alike.
    """
    until = _midnight(today + timedelta(days=1), tz)
    params = {"prefix": prefix + "%", "until": until, "tz": str(tz)}
    counts: dict[str, int] = {}
    sql = _OVERDUE_ROLLED if _kept(until, from_events) else _OVERDUE_GROUPS.format(visits=_READ["visits"])
    for row in conn.execute(text(sql), params):
        if status(due_by(rules.cadence_of(row.tags), row.registered_on, row.last_month), today) == "overdue":
            counts[row.grid_code] = counts.get(row.grid_code, 0) + row.n
    return counts


def visit_coverage(
    conn: Connection, prefix: str, day: date, rules: VisitRules, tz: ZoneInfo, *, from_events: bool = False
) -> dict[Cadence, Coverage]:
    """For each cadence, the households of the area due in the period that holds ``day``, and those visited by then."""
    until = _midnight(day + timedelta(days=1), tz)
    month_first, quarter_first = period_of(Cadence.MONTHLY, day)[0], period_of(Cadence.QUARTERLY, day)[0]
    params = {
        "prefix": prefix + "%",
        "month_from": _midnight(month_first, tz),
        "quarter_from": _midnight(quarter_first, tz),
        "month_first": month_first,
        "quarter_first": quarter_first,
        "until": until,
    }
    sql = (
        _IN_PERIODS_ROLLED
        if _kept(until, from_events)
        else _IN_PERIODS.format(visits=_VISITS.format(since=":quarter_from"))
    )
    households = []
    for row in conn.execute(text(sql), params).all():
        kind = rules.cadence_of(row.tags)
        visited = row.in_month if kind is Cadence.MONTHLY else row.in_quarter
        households.append((kind, row.registered_on, visited, row.n))
    return {kind: coverage(households, kind, day) for kind in Cadence}


def fill_visit_days(conn: Connection, tz: ZoneInfo) -> int:
    """The local day of each kept latest visit that lacks one (visits kept by migration 0028); how many."""
    return conn.execute(
        text(
            "UPDATE household SET last_visit_on = CAST(last_visit_at AT TIME ZONE :tz AS date)"
            " WHERE last_visit_at IS NOT NULL AND last_visit_on IS NULL"
        ),
        {"tz": str(tz)},
    ).rowcount
