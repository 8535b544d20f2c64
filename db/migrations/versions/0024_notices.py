"""Notices: a person is told when a case is dispatched to them or sent back for rework.

``notice`` is written in the transition's own transaction (cases.store) and sent by the clock's job
(streams.notices) through the configured sender: an SMS gateway, or the log. ``app_user.phone`` is
where an SMS goes.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("app_user", sa.Column("phone", sa.String(20)))
    op.create_table(
        "notice",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, server_default="0", nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_notice_unsent", "notice", ["id"], postgresql_where=sa.text("sent_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_notice_unsent", "notice")
    op.drop_table("notice")
    op.drop_column("app_user", "phone")
