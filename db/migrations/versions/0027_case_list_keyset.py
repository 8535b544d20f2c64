"""The list of cases pages by key: an area's cases by their place's code prefix, and the list's order.

``GET /v1/cases`` of a district over a year read every matching case to count it and to skip to a
page (1.4 s at page 500). The place index finds an area's cases by prefix (``text_pattern_ops``,
whatever the database's collation); the order index lets a page start after the last case of the
page before (``after``) and read only its own rows. The indicators read the cases not yet rolled of an
area by the same prefix, and the week's close-out the transitions that ended a case.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

from db.tables import CASE_LIST_ORDER, CASE_PLACE, ENDED_STATES

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f'CREATE INDEX ix_case_place ON "case" (({CASE_PLACE}) text_pattern_ops)')
    op.execute(f'CREATE INDEX ix_case_list_order ON "case" ({CASE_LIST_ORDER})')
    op.execute(f'CREATE INDEX ix_case_unrolled_place ON "case" (({CASE_PLACE}) text_pattern_ops) WHERE NOT rolled')
    op.execute(f"CREATE INDEX ix_case_transition_ended_at ON case_transition (at) WHERE to_state IN {ENDED_STATES}")


def downgrade() -> None:
    op.drop_index("ix_case_transition_ended_at", table_name="case_transition")
    op.drop_index("ix_case_unrolled_place", table_name="case")
    op.drop_index("ix_case_list_order", table_name="case")
    op.drop_index("ix_case_place", table_name="case")
