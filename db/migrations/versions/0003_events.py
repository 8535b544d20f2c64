"""Events, cases and the API's receipts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("reporter", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("attachments", JSONB, nullable=False),
        sa.Column("household", sa.Text),
        sa.Column("crs", sa.String(10), nullable=False),
        sa.Column("lon_reported", sa.Float, nullable=False),
        sa.Column("lat_reported", sa.Float, nullable=False),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("community_code", sa.String(12)),
        sa.Column("street_code", sa.String(9)),
        sa.Column("district_code", sa.String(6)),
        sa.Column("locate_method", sa.String(10), nullable=False),
        sa.Column("generation_id", sa.Integer),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source_partition", sa.Integer),
        sa.Column("source_offset", sa.BigInteger),
    )
    op.create_index("ix_event_geom", "event", ["geom"], postgresql_using="gist")
    op.create_index("ix_event_grid_occurred", "event", ["grid_code", "occurred_at"])
    op.create_index("ix_event_kind_occurred", "event", ["kind", "occurred_at"])
    op.create_table(
        "case",
        sa.Column("id", UUID(as_uuid=True), sa.ForeignKey("event.id"), primary_key=True),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("sla_class", sa.String(10), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("community_code", sa.String(12)),
        sa.Column("street_code", sa.String(9)),
        sa.Column("district_code", sa.String(6)),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, server_default="0", nullable=False),
    )
    op.create_index("ix_case_state_level", "case", ["state", "level"])
    op.create_index("ix_case_grid", "case", ["grid_code"])
    op.create_index("ix_case_deadline", "case", ["deadline"], postgresql_where=sa.text("closed_at IS NULL"))
    op.create_table(
        "event_receipt",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_receipt")
    op.drop_table("case")
    op.drop_table("event")
