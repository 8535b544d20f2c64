"""Resident requests (time window, volunteer, rating), photos, Open311 clients and requests.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("event", sa.Column("window_start", sa.DateTime(timezone=True)))
    op.add_column("event", sa.Column("window_end", sa.DateTime(timezone=True)))
    op.add_column("case", sa.Column("kind", sa.String(16), server_default="incident", nullable=False))
    op.add_column("case", sa.Column("assignee", sa.String(64)))
    op.create_index("ix_case_assignee", "case", ["assignee"], postgresql_where=sa.text("assignee IS NOT NULL"))
    op.create_table(
        "rating",
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("case.id"), primary_key=True),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("rated_by", sa.String(64), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="rating_score_range"),
    )
    op.create_table(
        "photo",
        sa.Column("event_id", UUID(as_uuid=True), sa.ForeignKey("event.id"), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("media_type", sa.String(16), nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True)),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("distance_m", sa.Float),
        sa.Column("flags", ARRAY(sa.Text), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "api_client",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("disabled", sa.Boolean, server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "open311_request",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("media_url", sa.Text),
        sa.Column("contact", JSONB, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_open311_requested", "open311_request", ["requested_at"])


def downgrade() -> None:
    op.drop_table("open311_request")
    op.drop_table("api_client")
    op.drop_table("photo")
    op.drop_table("rating")
    op.drop_index("ix_case_assignee", "case")
    op.drop_column("case", "assignee")
    op.drop_column("case", "kind")
    op.drop_column("event", "window_end")
    op.drop_column("event", "window_start")
