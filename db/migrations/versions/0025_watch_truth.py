"""The pipeline's watch tells the truth: progress is records written, and a worker starts without any.

``pipeline_member.progress_at`` (the last batch recorded) is empty until the worker records one;
``caught_up_at`` is the last time it found nothing left to read on every partition it owns.
``/health`` counts the time since the later of the two (or since the first member started).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("pipeline_member", "progress_at", nullable=True)
    op.add_column("pipeline_member", sa.Column("caught_up_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("pipeline_member", "caught_up_at")
    op.execute("UPDATE pipeline_member SET progress_at = started_at WHERE progress_at IS NULL")
    op.alter_column("pipeline_member", "progress_at", nullable=False)
