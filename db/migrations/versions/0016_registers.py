"""Registers: buildings, households and people; the log of reads of personal data; gridworkers' notes.

ID and phone numbers are stored sealed (AES-GCM, by the application) beside their masked form;
a person is found by ID number through its keyed hash (``id_hash``). A visit event names its
household in ``event.household``, indexed for the due lists.

Revision ID: 0016
Revises: 0015
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _updated() -> sa.Column[object]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "building",
        sa.Column("code", sa.String(18), primary_key=True),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("head", sa.Text),
        sa.Column("geom", geoalchemy2.Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("synthetic", sa.Boolean, server_default=sa.text("false"), nullable=False),
        _updated(),
    )
    op.create_index("ix_building_grid_code", "building", ["grid_code"])
    op.create_table(
        "household",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("building_code", sa.String(18), sa.ForeignKey("building.code"), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("room", sa.String(16), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("members", sa.Integer, server_default="0", nullable=False),
        sa.Column("tags", ARRAY(sa.Text), server_default="{}", nullable=False),
        sa.Column("registered_on", sa.Date, server_default=sa.func.current_date(), nullable=False),
        sa.Column("synthetic", sa.Boolean, server_default=sa.text("false"), nullable=False),
        _updated(),
    )
    op.create_index("ix_household_grid_code", "household", ["grid_code"])
    op.create_table(
        "person",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("household_id", sa.String(48), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("id_sealed", sa.LargeBinary, nullable=False),
        sa.Column("id_masked", sa.String(18), nullable=False),
        sa.Column("phone_sealed", sa.LargeBinary),
        sa.Column("phone_masked", sa.String(16)),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("relation", sa.Text, nullable=False),
        sa.Column("tags", ARRAY(sa.Text), server_default="{}", nullable=False),
        sa.Column("synthetic", sa.Boolean, server_default=sa.text("false"), nullable=False),
        _updated(),
        sa.UniqueConstraint("id_hash", name="uq_person_id_hash"),
    )
    op.create_index("ix_person_household_id", "person", ["household_id"])
    op.create_table(
        "pii_access",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("person_id", sa.BigInteger),
        sa.Column("household_id", sa.String(48)),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("rows", sa.Integer, server_default="1", nullable=False),
    )
    op.create_index("ix_pii_access_at", "pii_access", ["at"])
    op.create_table(
        "work_note",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("note", sa.Text, nullable=False),
        _updated(),
    )
    op.create_index(
        "ix_event_visit_household",
        "event",
        ["household", "occurred_at"],
        postgresql_where=sa.text("kind = 'visit'"),
    )


def downgrade() -> None:
    op.drop_index("ix_event_visit_household", "event")
    for table in ("work_note", "pii_access", "person", "household", "building"):
        op.drop_table(table)
