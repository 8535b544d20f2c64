"""Cases: pending extension/suspension requests, approved counts, suspension end, merge target.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case", sa.Column("request_kind", sa.String(12)))
    op.add_column("case", sa.Column("request_by", sa.String(64)))
    op.add_column("case", sa.Column("request_length", sa.String(16)))
    op.add_column("case", sa.Column("extensions", sa.Integer, server_default="0", nullable=False))
    op.add_column("case", sa.Column("suspensions", sa.Integer, server_default="0", nullable=False))
    op.add_column("case", sa.Column("paused_until", sa.DateTime(timezone=True)))
    op.add_column("case", sa.Column("merged_into", UUID(as_uuid=True)))
    op.add_column("case", sa.Column("filed_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_case_paused_until", "case", ["paused_until"], postgresql_where=sa.text("paused_until IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_case_paused_until", "case")
    for column in (
        "filed_at",
        "merged_into",
        "paused_until",
        "suspensions",
        "extensions",
        "request_length",
        "request_by",
        "request_kind",
    ):
        op.drop_column("case", column)
