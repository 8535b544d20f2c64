"""Receipts hold the event until it is recorded; the workers say how they are doing; pipeline counters.

A receipt's ``payload`` is the raw-topic message (the key is the reporter), so the
reconciler can send an event again when the broker lost it. ``resent`` counts how
often it did. ``pipeline_member`` has one row per running worker (what it owns and
when it last made progress); ``pipeline_counter`` holds the totals ``/metrics`` reads.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("event_receipt", sa.Column("reporter", sa.Text))
    op.add_column("event_receipt", sa.Column("payload", sa.LargeBinary))
    op.add_column("event_receipt", sa.Column("resent", sa.Integer, server_default="0", nullable=False))
    op.create_index("ix_event_receipt_received_at", "event_receipt", ["received_at"])
    op.create_table(
        "pipeline_member",
        sa.Column("member", sa.Text, primary_key=True),
        sa.Column("group_id", sa.Text, nullable=False),
        sa.Column("partitions", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("progress_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("rejoins", sa.Integer, server_default="0", nullable=False),
    )
    op.create_table(
        "pipeline_counter",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pipeline_counter")
    op.drop_table("pipeline_member")
    op.drop_index("ix_event_receipt_received_at", "event_receipt")
    for column in ("resent", "payload", "reporter"):
        op.drop_column("event_receipt", column)
