"""Boundary generations and areas.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "boundary_generation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, server_default=sa.text("false"), nullable=False),
    )
    op.create_index(
        "uq_boundary_generation_one_active",
        "boundary_generation",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "area",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "generation_id",
            sa.Integer,
            sa.ForeignKey("boundary_generation.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code", sa.String(15), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text),
        sa.Column("parent_code", sa.String(15)),
        sa.Column("households", sa.Integer),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.UniqueConstraint("generation_id", "code", name="uq_area_generation_id_code"),
        sa.CheckConstraint("level IN ('district', 'street', 'community', 'grid')", name="ck_area_level"),
    )
    op.create_index("ix_area_geom", "area", ["geom"], postgresql_using="gist")
    op.create_index("ix_area_generation_parent", "area", ["generation_id", "parent_code"])
    op.create_index("ix_area_generation_level", "area", ["generation_id", "level"])


def downgrade() -> None:
    op.drop_table("area")
    op.drop_table("boundary_generation")
