"""Grid layers: overlay grids (party, special) kept in step with the management grids; coverage statements.

``overlay_area`` holds the party grids (党建网格) and special grids (专属网格) of a
boundary generation, each naming the management grids it spans. A generation's
``coverage`` holds each layer's own statement, ``complete`` or ``partial``, carried
into the next generation. Events and cases inside a special grid carry its code.

Revision ID: 0015
Revises: 0014
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "boundary_generation", sa.Column("coverage", JSONB, server_default=sa.text("'{}'::jsonb"), nullable=False)
    )
    op.create_table(
        "overlay_area",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "generation_id", sa.Integer, sa.ForeignKey("boundary_generation.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("code", sa.String(17), nullable=False),
        sa.Column("layer", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(16)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text),
        sa.Column("owner", sa.Text),
        sa.Column("spans", ARRAY(sa.String(15)), nullable=False),
        sa.Column("geom", geoalchemy2.Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.UniqueConstraint("generation_id", "code", name="uq_overlay_area_generation_id_code"),
        sa.CheckConstraint("layer IN ('party', 'special')", name="ck_overlay_area_layer"),
    )
    op.create_index("ix_overlay_area_geom", "overlay_area", ["geom"], postgresql_using="gist")
    op.create_index("ix_overlay_area_generation_id_layer", "overlay_area", ["generation_id", "layer"])
    for table in ("event", "case"):
        op.add_column(table, sa.Column("special_code", sa.String(17)))
    op.create_index(
        "ix_case_special_code", "case", ["special_code"], postgresql_where=sa.text("special_code IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_case_special_code", "case")
    for table in ("event", "case"):
        op.drop_column(table, "special_code")
    op.drop_table("overlay_area")
    op.drop_column("boundary_generation", "coverage")
