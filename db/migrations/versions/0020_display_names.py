"""Display names: the name people read for a user (张三), shown in histories instead of the login name.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("app_user", sa.Column("display_name", sa.String(64)))


def downgrade() -> None:
    op.drop_column("app_user", "display_name")
