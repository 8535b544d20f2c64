"""Drop case.deferred: the indicators no longer read it (a suspension counts while it lasts).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("case", "deferred")


def downgrade() -> None:
    op.add_column("case", sa.Column("deferred", sa.Boolean, server_default=sa.text("false"), nullable=False))
