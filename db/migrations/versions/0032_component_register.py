"""The component register (部件) and units' areas of responsibility; reports and cases name a component, and a
case keeps the unit it was routed to (分拨, cases.routing).

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("event", sa.Column("component", sa.String(16)))
    op.add_column("case", sa.Column("component", sa.String(16)))
    op.add_column("case", sa.Column("unit", sa.Text))
    op.create_index("ix_case_component", "case", ["component"], postgresql_where=sa.text("component IS NOT NULL"))
    op.create_table(
        "component",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("maintainer", sa.Text),
        sa.Column("status", sa.String(4), nullable=False),
        sa.Column("surveyed_on", sa.Date),
        sa.Column("synthetic", sa.Boolean, server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_component_geom", "component", ["geom"], postgresql_using="gist")
    op.create_index("ix_component_grid_code", "component", ["grid_code"])
    op.create_index("ix_component_owner", "component", ["owner"])
    op.create_table(
        "unit_area",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_unit_area_geom", "unit_area", ["geom"], postgresql_using="gist")
    op.alter_column("register_import", "kind", type_=sa.String(16))  # "components" from the browser too


def downgrade() -> None:
    op.execute("DELETE FROM register_import WHERE kind = 'components'")
    op.alter_column("register_import", "kind", type_=sa.String(9))
    op.drop_table("unit_area")
    op.drop_table("component")
    op.drop_index("ix_case_component", "case")
    op.drop_column("case", "unit")
    op.drop_column("case", "component")
    op.drop_column("event", "component")
