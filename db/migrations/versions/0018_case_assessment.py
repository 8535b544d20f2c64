"""The assessment's columns of a case: due moment, last resolution, the moment that places it in a period.

``due_at`` (应结案时间) is the fix deadline set at filing, moved only by extensions and
suspensions approved before it; ``counted_at`` is the due moment, or the close when it came
earlier (NULL while a suspension approved in time runs, and for reports that never became
cases); ``resolved_at`` the last resolution; ``extended_at`` the first extension that moved
the due moment; ``hours_to_close`` the working hours from report to close, kept
when the case closes (so a period's mean and 90th percentile are read in SQL). Indexed
by ``opened_at``, ``counted_at`` and ``closed_at`` (and transitions by ``at``), so a
period's figures read only the period's cases. See ``cases.assessment``.

``appeal`` holds appeals against a timeout (超时申诉), one per case.

Cases recorded before this migration get an approximation from their history: the due
moment is the deadline of their first fix stage (else their current deadline), extensions
and suspensions left as they were; their ``hours_to_close`` stays empty (the working
calendar lives in the rules, not in SQL), so they drop out of the hours-to-close figures.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COLUMNS = ("due_at", "resolved_at", "counted_at", "extended_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("case", sa.Column(name, sa.DateTime(timezone=True)))
    op.add_column("case", sa.Column("hours_to_close", sa.Float))
    op.execute(
        """
        UPDATE "case" c SET
          due_at = coalesce((SELECT t.deadline FROM case_transition t WHERE t.case_id = c.id
                             AND t.to_state = 'in_progress' ORDER BY t.seq LIMIT 1), c.deadline),
          resolved_at = (SELECT max(t.at) FROM case_transition t WHERE t.case_id = c.id AND t.action = 'resolve')
        WHERE c.filed_at IS NOT NULL AND c.state NOT IN ('refused', 'voided', 'merged')
        """
    )
    op.execute(
        """
        UPDATE "case" SET counted_at = CASE WHEN state = 'closed' THEN least(closed_at, due_at)
                                            WHEN paused_at IS NOT NULL THEN NULL ELSE due_at END
        WHERE due_at IS NOT NULL
        """
    )
    op.create_table(
        "appeal",
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("case.id"), primary_key=True),
        sa.Column("appellant", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False, server_default=""),
        sa.Column("photo", sa.String(64)),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("upheld", sa.Boolean),
        sa.Column("decision_note", sa.Text),
    )
    op.create_index("ix_case_opened_at", "case", ["opened_at"])
    op.create_index("ix_case_counted_at", "case", ["counted_at"], postgresql_where=sa.text("counted_at IS NOT NULL"))
    op.create_index("ix_case_closed_at", "case", ["closed_at"], postgresql_where=sa.text("closed_at IS NOT NULL"))
    op.create_index("ix_case_open_filed", "case", ["filed_at"], postgresql_where=sa.text("closed_at IS NULL"))
    op.create_index("ix_case_transition_at", "case_transition", ["at"])


def downgrade() -> None:
    op.drop_index("ix_case_transition_at", table_name="case_transition")
    op.drop_index("ix_case_open_filed", table_name="case")
    op.drop_index("ix_case_closed_at", table_name="case")
    op.drop_table("appeal")
    op.drop_index("ix_case_counted_at", table_name="case")
    op.drop_index("ix_case_opened_at", table_name="case")
    for name in COLUMNS:
        op.drop_column("case", name)
    op.drop_column("case", "hours_to_close")
