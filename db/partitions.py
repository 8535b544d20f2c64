"""Tables partitioned by month (PostgreSQL's declarative partitioning), their months made ahead and dropped whole.

A partitioned table has a partition per month (UTC), ``<table>_yYYYYmMM``, and a default one that
takes a row no month holds yet (a row dated before the first month made, say). The clock's job makes
the months up to ``AHEAD`` ahead, so a new month's rows never wait for it; retention drops whole
months that ended before the cut-off (a closed month is never rewritten, only dropped) and the rows
of the default partition older than it.
"""

import re
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, text

MONTHLY = {"pii_access": "at"}  # each partitioned table and the moment it is partitioned by
AHEAD = 3  # months made ahead of the current one
_MONTH = re.compile(r"_y(\d{4})m(\d{2})$")


def month_of(moment: datetime) -> date:
    """The first day of ``moment``'s month (UTC)."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(first: date) -> date:
    """The first day of the month after the one beginning ``first``."""
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


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


def keep_ahead(engine: Engine, now: datetime) -> int:
    """Make every partitioned table's months up to ``AHEAD`` after ``now``'s; how many were made."""
    this = last = month_of(now)
    for _ in range(AHEAD):
        last = next_month(last)
    wanted, made = months(this, last), 0
    for table in MONTHLY:
        with engine.begin() as conn:
            made += make_months(conn, table, wanted)
    return made


def drop_before(engine: Engine, table: str, before: datetime) -> int:
    """Drop ``table``'s months that ended by ``before`` and its default partition's rows older; rows that went."""
    gone = 0
    with engine.begin() as conn:
        for first, name in sorted(partitions(conn, table).items()):
            if datetime.combine(next_month(first), datetime.min.time(), UTC) <= before:
                gone += conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                conn.execute(text(f"DROP TABLE {name}"))
        column = MONTHLY[table]
        gone += conn.execute(text(f"DELETE FROM {table}_default WHERE {column} < :before"), {"before": before}).rowcount
    return int(gone)
