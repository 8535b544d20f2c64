"""The active boundary generation's areas as a view: the one place that join is written.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE VIEW active_area AS SELECT a.* FROM area a"
        " JOIN boundary_generation g ON g.id = a.generation_id AND g.active"
    )


def downgrade() -> None:
    op.execute("DROP VIEW active_area")
