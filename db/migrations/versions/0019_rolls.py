"""The rolls: sums of ended cases per community and grid and day, so a year's indicators read thousands of rows.

``case.rolled`` marks a case added to the rolls (``cases.rollup``); the clock rolls every
case that ended before the day began, a batch a tick, so an existing database is rolled up
over its first ticks after this migration (its figures are the same meanwhile: a case not
rolled is read case by case). The partial indexes find the cases not rolled by each moment
a period is matched on.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

CASE_COUNTS = (
    "n", "closed", "on_time", "raw_on_time", "upheld", "urgent", "urgent_on_time", "refused", "voided", "merged",
    "outside", "minor", "minor_in_grid",
)  # fmt: skip


def upgrade() -> None:
    op.add_column("case", sa.Column("rolled", sa.Boolean, server_default=sa.text("false"), nullable=False))
    op.create_index("ix_case_unrolled_opened", "case", ["opened_at"], postgresql_where=sa.text("NOT rolled"))
    op.create_index(
        "ix_case_unrolled_counted", "case", ["counted_at"],
        postgresql_where=sa.text("NOT rolled AND counted_at IS NOT NULL"),
    )  # fmt: skip
    op.create_index(
        "ix_case_unrolled_closed", "case", ["closed_at"],
        postgresql_where=sa.text("NOT rolled AND closed_at IS NOT NULL"),
    )  # fmt: skip
    op.create_table(
        "case_roll",
        sa.Column("grain", sa.SmallInteger, nullable=False),
        sa.Column("area", sa.String(15), nullable=False),
        sa.Column("role", sa.String(1), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("closed_day", sa.Date),
        sa.Column("filed_day", sa.Date),
        sa.Column("extended_day", sa.Date),
        *(sa.Column(name, sa.Integer, nullable=False) for name in CASE_COUNTS),
    )
    op.create_index(
        "uq_case_roll_key", "case_roll", ["grain", "area", "role", "day", "closed_day", "filed_day", "extended_day"],
        unique=True, postgresql_nulls_not_distinct=True,
    )  # fmt: skip
    op.create_table(
        "transition_roll",
        sa.Column("grain", sa.SmallInteger, nullable=False),
        sa.Column("area", sa.String(15), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("unit", sa.Text),
        sa.Column("since_day", sa.Date),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.create_index(
        "uq_transition_roll_key", "transition_roll", ["grain", "area", "day", "kind", "unit", "since_day"],
        unique=True, postgresql_nulls_not_distinct=True,
    )  # fmt: skip
    op.create_table(
        "hours_roll",
        sa.Column("grain", sa.SmallInteger, nullable=False),
        sa.Column("area", sa.String(15), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
    )
    op.create_index("uq_hours_roll_key", "hours_roll", ["grain", "area", "day", "hours"], unique=True)


def downgrade() -> None:
    for table in ("hours_roll", "transition_roll", "case_roll"):
        op.drop_table(table)
    for name in ("ix_case_unrolled_closed", "ix_case_unrolled_counted", "ix_case_unrolled_opened"):
        op.drop_index(name, table_name="case")
    op.drop_column("case", "rolled")
