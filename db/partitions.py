"""Tables partitioned by month (PostgreSQL's declarative partitioning), their months made ahead and dropped whole.

A partitioned table has a partition per month (UTC), ``<table>_yYYYYmMM``, and a default one that
takes a row no month holds yet (a row dated before the first month made, say). The clock's job makes
the months up to ``AHEAD`` ahead, so a new month's rows never wait for it; retention drops whole
months that ended before the cut-off (a closed month is never rewritten, only dropped) and the rows
of the default partition older than it.

The access log is partitioned by the moment of each read. A case's history (``case_transition``) is
partitioned by the month its case opened: the history of a case stays together, its keys stay unique
as before, and a month is written to until its last case ends (or a decided appeal reopens one); only
then, and past the cut-off, may retention drop it. Events are partitioned by the moment they happened
(every copy of one carries it); a month of them goes once every case opened from them has ended, and
their photos with them.
"""

import re
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, text

from db.tables import ENDED_STATES

# Each partitioned table and the moment it is partitioned by.
MONTHLY = {"pii_access": "at", "case_transition": "case_opened_at", "event": "occurred_at"}
# What must hold of a month before retention drops it (its bounds :a and :b), beyond having ended:
# a case's history goes only once every case opened in the month has ended; an event (a report, a patrol,
# a visit) only once the case it opened, if any, has ended (a case keeps its report's moment).
_OPEN_CASES = f'SELECT id FROM "case" WHERE state NOT IN {ENDED_STATES}'
_NONE_OPEN = f'NOT EXISTS (SELECT 1 FROM "case" WHERE {{at}} >= :a AND {{at}} < :b AND state NOT IN {ENDED_STATES})'
SETTLED = {"case_transition": _NONE_OPEN.format(at="opened_at"), "event": _NONE_OPEN.format(at="event_occurred_at")}
# The rows of the default partition retention removes (:before the cut-off), beyond being older than it.
SETTLED_ROWS = {
    "case_transition": f'case_id IN (SELECT id FROM "case" WHERE opened_at < :before AND state IN {ENDED_STATES})',
    "event": f"id NOT IN ({_OPEN_CASES})",
}
# Rows of other tables that name the rows going ({rows}: a month's partition, or the default's rows that go),
# removed first: a key into a partitioned table keeps a month from being detached while it is named.
DEPENDENT = {
    "event": (
        "DELETE FROM photo WHERE (event_id, event_occurred_at) IN (SELECT id, occurred_at FROM {rows})",
        "DELETE FROM event_key WHERE id IN (SELECT id FROM {rows})",
    )
}
AHEAD = 3  # months made ahead of the current one
BEHIND = 1  # and behind it: a report may be dated up to 30 days back, and opens its case then
_MONTH = re.compile(r"_y(\d{4})m(\d{2})$")


def report_of(case: str = "c", event: str = "e") -> str:
    """SQL matching a case's report (the event that opened it) by its key: one month's partition is read."""
    return f"{event}.id = {case}.id AND {event}.occurred_at = {case}.event_occurred_at"


CASE_REPORT = report_of()  # on ``"case" c`` and ``event e``


def case_report(case: str = "c", event: str = "e", *, where: str = "", outer: bool = False) -> str:
    """SQL joining ``"case" <case>`` to its report, as ``<event>``: one row, read in one month's partition.

    A lateral subquery of one row rather than a plain join: PostgreSQL probes the month's index with the
    case's key (pruning the other months as it runs), and it does not multiply the two equalities'
    selectivities into "no case has a report" (which made a page of 20 cases read every report of the year:
    ``bench/read_side.py``). ``where``: more conditions on the report (``AND …``); ``outer``: keep a case
    whose report is gone.
    """
    join = "LEFT JOIN LATERAL" if outer else "JOIN LATERAL"
    return f"{join} (SELECT * FROM event {event} WHERE {report_of(case, event)}{where} LIMIT 1) {event} ON true"


def month_of(moment: datetime) -> date:
    """The first day of ``moment``'s month (UTC)."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(first: date) -> date:
    """The first day of the month after the one beginning ``first``."""
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def months_before(moment: datetime, n: int) -> datetime:
    """The start (UTC) of the month ``n`` months before ``moment``'s."""
    first = month_of(moment)
    index = first.year * 12 + first.month - 1 - n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def months(first: date, last: date) -> list[date]:
    """The first days of the months from ``first``'s to ``last``'s."""
    found, month = [], date(first.year, first.month, 1)
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found


def partition_name(table: str, first: date) -> str:
    """The partition of ``table`` holding the month beginning ``first``."""
    return f"{table}_y{first:%Y}m{first:%m}"


def partitions(conn: Connection, table: str) -> dict[date, str]:
    """The month partitions of ``table`` by their first day (the default partition left out)."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": table},
    ).scalars()
    found = {}
    for name in names:
        if matched := _MONTH.search(name):
            found[date(int(matched[1]), int(matched[2]), 1)] = name
    return found


def make_months(conn: Connection, table: str, wanted: list[date]) -> int:
    """Make the month partitions of ``table`` that ``wanted`` names and it lacks; how many were made.

    A month whose rows the default partition already holds is made by moving them: detached default,
    new month, rows moved, default attached again (in the caller's transaction).
    """
    have, column, made = partitions(conn, table), MONTHLY[table], 0
    for first in wanted:
        if first in have:
            continue
        name, bounds = partition_name(table, first), {"a": first, "b": next_month(first)}
        default = f"{table}_default"
        waiting = conn.execute(
            text(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {column} >= :a AND {column} < :b)"), bounds
        ).scalar_one()
        if waiting:
            conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {default}"))
        conn.execute(
            text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ('{first}') TO ('{next_month(first)}')")
        )
        if waiting:
            moved = f"SELECT * FROM {default} WHERE {column} >= :a AND {column} < :b"
            conn.execute(text(f"INSERT INTO {name} {moved}"), bounds)
            conn.execute(text(f"DELETE FROM {default} WHERE {column} >= :a AND {column} < :b"), bounds)
            conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT"))
        made += 1
    return made


def kept_months(now: datetime) -> list[date]:
    """The months the clock keeps made: ``BEHIND`` before ``now``'s to ``AHEAD`` after it."""
    return months(months_before(now, BEHIND).date(), months_before(now, -AHEAD).date())


def keep_ahead(engine: Engine, now: datetime) -> int:
    """Make every partitioned table's ``kept_months`` it lacks; how many were made."""
    wanted, made = kept_months(now), 0
    for table in MONTHLY:
        with engine.begin() as conn:
            made += make_months(conn, table, wanted)
    return made


def drop_before(engine: Engine, table: str, before: datetime) -> int:
    """Drop ``table``'s months that ended by ``before`` (and are ``SETTLED``), and its default's older rows.

    Returns how many rows went.
    """
    gone = 0
    settled, dependent = SETTLED.get(table, "true"), DEPENDENT.get(table, ())
    with engine.begin() as conn:
        for first, name in sorted(partitions(conn, table).items()):
            bounds = {"a": first, "b": next_month(first)}
            ended = datetime.combine(next_month(first), datetime.min.time(), UTC) <= before
            if ended and conn.execute(text(f"SELECT {settled}"), bounds).scalar_one():
                gone += conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                for statement in dependent:
                    conn.execute(text(statement.format(rows=name)))
                conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {name}"))
                conn.execute(text(f"DROP TABLE {name}"))
        older = f"{table}_default WHERE {MONTHLY[table]} < :before AND {SETTLED_ROWS.get(table, 'true')}"
        for statement in dependent:
            conn.execute(text(statement.format(rows=older)), {"before": before})
        gone += conn.execute(text(f"DELETE FROM {older}"), {"before": before}).rowcount
    return int(gone)
