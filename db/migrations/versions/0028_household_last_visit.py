"""A household keeps the moment of its latest visit.

Visit coverage and the map's overdue visits of a district read every household's latest visit: from
the visit events that was a grouping of about a million rows a year (0.9–1.1 s, bench/read_side.py).
The writer now keeps ``household.last_visit_at`` with each visit it records; this fills it from the
visits recorded before.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("household", sa.Column("last_visit_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE household h SET last_visit_at = v.last FROM ("
        " SELECT household, max(occurred_at) AS last FROM event WHERE kind = 'visit' AND household IS NOT NULL"
        " GROUP BY household) v WHERE h.id = v.household"
    )


def downgrade() -> None:
    op.drop_column("household", "last_visit_at")
