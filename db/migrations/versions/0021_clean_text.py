"""Text typed before the checks: control characters and direction overrides removed, and each change reported.

Every text people type is now refused at the door when it holds a control character (C0 but tab
and line ends in free text, DEL, C1) or a direction override (U+202A–U+202E, U+2066–U+2069);
see db/cells.py. Rows stored before that are cleaned here: free text keeps its tabs and line
ends, names, addresses and codes lose every such character. Each column changed is reported
as a warning ("cleaned N row(s) of table.column"); nothing else is touched. The scan reads each
listed column once (a year of a big district: a few minutes, once).

Revision ID: 0021
Revises: 0020
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

log = logging.getLogger("gridgov.migrations")

_OVERRIDES = "\u202a-\u202e\u2066-\u2069"
_C0_BUT_LINES = "\x01-\x08\x0b\x0c\x0e-\x1f"
FREE_TEXT_BAD = f"[{_C0_BUT_LINES}\x7f-\x9f{_OVERRIDES}]"  # tab, LF and CR stay
ONE_LINE_BAD = f"[\x01-\x1f\x7f-\x9f{_OVERRIDES}]"
FREE_TEXT = {
    "event": ("description",),
    "open311_request": ("description",),
    "case_transition": ("note",),
    "work_note": ("note",),
    "appeal": ("reason", "evidence", "decision_note"),
    "rating": ("comment",),
}
ONE_LINE = {
    "app_user": ("scope", "display_name"),
    "api_client": ("name",),
    "building": ("name", "head"),
    "household": ("address", "unit", "room"),
    "person": ("name", "relation"),
    "open311_request": ("address",),
    "area": ("name", "name_en"),
    "overlay_area": ("name", "name_en", "owner"),
    "case": ("assignee", "request_by"),
    "pii_access": ("purpose",),
}


def upgrade() -> None:
    bind = op.get_bind()
    for columns, pattern in ((FREE_TEXT, FREE_TEXT_BAD), (ONE_LINE, ONE_LINE_BAD)):
        for table, names in columns.items():
            for column in names:
                changed = bind.execute(
                    sa.text(
                        f'UPDATE "{table}" SET "{column}" = regexp_replace("{column}", :bad, \'\', \'g\')'
                        f' WHERE "{column}" ~ :bad'
                    ),
                    {"bad": pattern},
                ).rowcount
                if changed:
                    log.warning("cleaned control characters from %d row(s) of %s.%s", changed, table, column)


def downgrade() -> None:
    """What was removed is not kept: nothing to put back."""
