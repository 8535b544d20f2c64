"""Case loop: transitions (also the outbox to Kafka), pauses, patrol breaches.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case", sa.Column("paused_at", sa.DateTime(timezone=True)))
    op.add_column("case", sa.Column("pause_kind", sa.String(12)))
    op.add_column("case", sa.Column("reworks", sa.Integer, server_default="0", nullable=False))
    op.add_column("case", sa.Column("escalations", sa.Integer, server_default="0", nullable=False))
    op.add_column("case", sa.Column("overdue", sa.Boolean, server_default=sa.text("false"), nullable=False))
    op.add_column("case", sa.Column("deferred", sa.Boolean, server_default=sa.text("false"), nullable=False))
    op.add_column("case", sa.Column("closed_on_time", sa.Boolean))
    op.add_column("case", sa.Column("department", sa.Text))
    op.create_table(
        "case_transition",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("from_level", sa.String(16), nullable=False),
        sa.Column("to_level", sa.String(16), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("published", sa.Boolean, server_default=sa.text("false"), nullable=False),
        # NULL: not an escalation; false: still to be produced to the escalations topic.
        sa.Column("escalation_published", sa.Boolean),
        sa.UniqueConstraint("case_id", "seq", name="uq_case_transition_case_seq"),
    )
    # A level is reached by escalation at most once: the clock can never record it twice.
    op.create_index(
        "uq_case_transition_escalation",
        "case_transition",
        ["case_id", "to_level"],
        unique=True,
        postgresql_where=sa.text("action IN ('escalate', 'auto_escalate')"),
    )
    op.create_index(
        "uq_case_transition_overdue",
        "case_transition",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("action = 'overdue'"),
    )
    op.create_index(
        "ix_case_transition_unpublished",
        "case_transition",
        ["id"],
        postgresql_where=sa.text("NOT published OR NOT escalation_published"),
    )
    op.create_table(
        "patrol_breach",
        sa.Column("grid_code", sa.String(15), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_event_patrol_day", "event", ["grid_code", "occurred_at"], postgresql_where=sa.text("kind = 'patrol'")
    )


def downgrade() -> None:
    op.drop_index("ix_event_patrol_day", "event")
    op.drop_table("patrol_breach")
    op.drop_table("case_transition")
    for column in (
        "department",
        "closed_on_time",
        "deferred",
        "overdue",
        "escalations",
        "reworks",
        "pause_kind",
        "paused_at",
    ):
        op.drop_column("case", column)
