"""Cases: the level that dispatched a case, where a missed sign-in may send it back above.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case", sa.Column("dispatched_from", sa.String(16)))


def downgrade() -> None:
    op.drop_column("case", "dispatched_from")
