"""Registers people work in: everyday changes proposed and approved, imports from the browser, building heads.

``register_change`` keeps every change to the register (add a person, move, leave, tags, split, merge),
proposed by a gridworker and decided by a community supervisor, or applied at once by a supervisor;
``register_import`` an import made in the browser, its progress and its report. A building head's
scope lists their buildings, so ``app_user.scope`` grows; people are found by name through a trigram
index.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("app_user", "scope", type_=sa.String(400))
    op.create_table(
        "register_change",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("household_id", sa.String(48)),
        sa.Column("person_id", sa.BigInteger),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decision_note", sa.Text),
        sa.Column("outcome", JSONB),
        sa.UniqueConstraint("client_id", name="uq_register_change_client_id"),
    )
    op.create_index("ix_register_change_grid_state", "register_change", ["grid_code", "state"])
    op.create_table(
        "register_import",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(9), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("stage", sa.String(9)),
        sa.Column("done", sa.Integer, server_default="0", nullable=False),
        sa.Column("total", sa.Integer, server_default="0", nullable=False),
        sa.Column("report", JSONB),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.execute("CREATE INDEX ix_person_name_trgm ON person USING gin (name gin_trgm_ops)")


def downgrade() -> None:
    op.drop_index("ix_person_name_trgm", "person")
    op.drop_table("register_import")
    op.drop_index("ix_register_change_grid_state", "register_change")
    op.drop_table("register_change")
    op.alter_column("app_user", "scope", type_=sa.String(64))
