"""The SLA clock watching itself: its members' ticks, the cases it skipped, and each missed top deadline once.

``clock_member`` has one row per running clock (its last finished tick, ticks and failed
jobs); ``clock_skip`` holds a case one job could not handle, until the case changes.
``case_transition.recorded_at`` says when a transition was written, so the outbox's lag
is measured from then (``at`` of a breach is the missed deadline, which may lie far back).
The top level's ``overdue`` is unique per missed deadline (was: per case), so a case whose
deadline an approved extension moved can be recorded overdue again when it misses the new one.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "case_transition",
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.drop_index("uq_case_transition_overdue", table_name="case_transition")
    op.create_index(
        "uq_case_transition_overdue",
        "case_transition",
        ["case_id", "at"],
        unique=True,
        postgresql_where=sa.text("action = 'overdue'"),
    )
    op.create_table(
        "clock_member",
        sa.Column("member", sa.Text, primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticked_at", sa.DateTime(timezone=True)),
        sa.Column("ticks", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("failures", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "clock_skip",
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("case.id"), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("clock_skip")
    op.drop_table("clock_member")
    op.drop_index("uq_case_transition_overdue", table_name="case_transition")
    op.create_index(
        "uq_case_transition_overdue",
        "case_transition",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("action = 'overdue'"),
    )
    op.drop_column("case_transition", "recorded_at")
