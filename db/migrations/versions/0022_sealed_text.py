"""Personal numbers in free text: sealed originals, and the case a read of them concerns.

``sealed_text`` holds a description or a note that carried an ID, phone or plate number, sealed
under ``GRIDGOV_PII_KEY`` (registers.free_text); the text's own column keeps it masked.
``pii_access.case_id`` names the case whose text was read unmasked. Rows stored before this are
masked and sealed right after the migrations by ``gridgov db upgrade`` (registers/old_text.py):
that needs the key and a room above this floor.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sealed_text",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("ref", sa.String(80), primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.add_column("pii_access", sa.Column("case_id", UUID(as_uuid=True)))
    op.alter_column("pii_access", "action", type_=sa.String(9))


def downgrade() -> None:
    op.alter_column("pii_access", "action", type_=sa.String(8))
    op.drop_column("pii_access", "case_id")
    op.drop_table("sealed_text")
