"""The fingerprint of the rules and working calendar the open cases' deadlines were computed with.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rules_version",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="rules_version_single_row"),
    )


def downgrade() -> None:
    op.drop_table("rules_version")
