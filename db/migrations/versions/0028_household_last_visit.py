"""A household keeps its latest visit, and the households are counted in groups by it.

Visit coverage and the map's overdue visits of a district read every household's latest visit: from
the visit events that was a grouping of about a million rows a year (0.9–1.1 s, bench/read_side.py),
and from the households themselves still 0.3 s. The writer now keeps ``household.last_visit_at`` (and
its local day, ``last_visit_on``) with each visit it records, and a trigger keeps
``household_visit_roll``: how many households of each grid share tags, registration day and the month
of their latest visit, which is all the coverage and the overdue count need. This fills both from
the visits recorded before; their local day needs the city's zone, from the rules file, and is filled
by ``gridgov db upgrade`` after the migrations (``registers.visits.fill_visit_days``).

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from db.register_tables import VISIT_ROLL_FUNCTION, VISIT_ROLL_TRIGGERS

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("household", sa.Column("last_visit_at", sa.DateTime(timezone=True)))
    op.add_column("household", sa.Column("last_visit_on", sa.Date))
    op.execute(
        "UPDATE household h SET last_visit_at = v.last"
        " FROM (SELECT household, max(occurred_at) AS last FROM event WHERE kind = 'visit'"
        " AND household IS NOT NULL GROUP BY household) v WHERE h.id = v.household"
    )
    op.create_table(
        "household_visit_roll",
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("tags", ARRAY(sa.Text), nullable=False),
        sa.Column("registered_on", sa.Date, nullable=False),
        sa.Column("last_month", sa.Date),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.execute(
        "ALTER TABLE household_visit_roll ADD CONSTRAINT uq_household_visit_roll"
        " UNIQUE NULLS NOT DISTINCT (grid_code, tags, registered_on, last_month)"
    )
    op.execute(
        "INSERT INTO household_visit_roll (grid_code, tags, registered_on, last_month, n)"
        " SELECT grid_code, tags, registered_on, CAST(date_trunc('month', last_visit_on) AS date), count(*)"
        " FROM household GROUP BY 1, 2, 3, 4"
    )
    op.execute(VISIT_ROLL_FUNCTION)
    for trigger in VISIT_ROLL_TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    op.execute("DROP TABLE household_visit_roll")
    op.execute("DROP FUNCTION household_visit_roll_keep() CASCADE")
    op.drop_column("household", "last_visit_on")
    op.drop_column("household", "last_visit_at")
