"""The rolls' tables (migration 0019), declared once in the platform's ``metadata``: see ``cases.rollup``."""

from sqlalchemy import Column, Date, Float, Index, Integer, SmallInteger, String, Table, Text

from db.tables import metadata

# The rolls (cases.rollup): sums over the rolled cases per area and local day, twice: per community
# (``grain`` 12: ``area`` is the first 12 digits of where a case lies) and per grid (15: where it lies),
# keyed by the local days that decide what they count as of a period's end. A key column left NULL is
# one value (NULLS NOT DISTINCT).
CASE_ROLL_COUNTS = (
    "n", "closed", "on_time", "raw_on_time", "upheld", "urgent", "urgent_on_time", "refused", "voided", "merged",
    "outside", "minor", "minor_in_grid",
)  # fmt: skip
case_roll = Table(
    "case_roll",
    metadata,
    Column("grain", SmallInteger, nullable=False),
    Column("area", String(15), nullable=False),
    Column("role", String(1), nullable=False),  # r: received on ``day``; d: due on ``day``
    Column("day", Date, nullable=False),
    Column("closed_day", Date),
    Column("filed_day", Date),
    Column("extended_day", Date),
    *(Column(name, Integer, nullable=False) for name in CASE_ROLL_COUNTS),
    Index(
        "uq_case_roll_key", "grain", "area", "role", "day", "closed_day", "filed_day", "extended_day",
        unique=True, postgresql_nulls_not_distinct=True,
    ),
)  # fmt: skip
transition_roll = Table(
    "transition_roll",
    metadata,
    Column("grain", SmallInteger, nullable=False),
    Column("area", String(15), nullable=False),
    Column("day", Date, nullable=False),
    Column("kind", String(24), nullable=False),  # check, failed, esc:<level>, dispatched, signed, unit_check, …
    Column("unit", Text),
    Column("since_day", Date),  # counted only as of a period ending after this day (a sign-in)
    Column("n", Integer, nullable=False),
    Index(
        "uq_transition_roll_key", "grain", "area", "day", "kind", "unit", "since_day",
        unique=True, postgresql_nulls_not_distinct=True,
    ),
)  # fmt: skip
hours_roll = Table(
    "hours_roll",
    metadata,
    Column("grain", SmallInteger, nullable=False),
    Column("area", String(15), nullable=False),
    Column("day", Date, nullable=False),  # the day it closed
    Column("hours", Float, nullable=False),  # working hours to close, rounded as cases.rollup.HOURS_STEP says
    Column("n", Integer, nullable=False),
    Column("total", Float, nullable=False),  # the exact hours, summed (for the mean)
    Index("uq_hours_roll_key", "grain", "area", "day", "hours", unique=True),
)
