"""A case keeps its report's moment, so reading a case's report reads one month of events.

``event`` is partitioned by ``occurred_at`` (0033), and a case found its report by id alone: a probe
into every month's index, per case (the word search and the weekly close-out doubled in
``bench/read_side.py``). A case now keeps ``event_occurred_at``, the moment its report happened (the
writer fills it as it opens the case), and reads its report by ``(id, event_occurred_at)``: the key of
one month's partition. No foreign key ties them: a month of events may go (retention) once its cases
have ended, and the cases stay. A case whose report is gone already keeps the moment it was opened.

Revision ID: 0034
Revises: 0033
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('ALTER TABLE "case" ADD COLUMN event_occurred_at timestamptz')
    op.execute(
        'UPDATE "case" c SET event_occurred_at = coalesce('
        "(SELECT k.occurred_at FROM event_key k WHERE k.id = c.id), c.opened_at)"
    )
    op.execute('ALTER TABLE "case" ALTER COLUMN event_occurred_at SET NOT NULL')


def downgrade() -> None:
    op.execute('ALTER TABLE "case" DROP COLUMN event_occurred_at')
