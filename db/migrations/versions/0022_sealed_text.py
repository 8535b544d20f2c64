"""Personal numbers in free text: sealed originals, masked text, and the case a read of them concerns.

``sealed_text`` holds a description or a note that carried an ID, phone or plate number, sealed
under ``GRIDGOV_PII_KEY`` (registers.free_text); the text's own column keeps it masked.
``pii_access.case_id`` names the case whose text was read unmasked. Rows stored before this
are treated the same way here: each event description and transition note holding such a
number is masked and its original sealed (reported as a warning per column), and an Open311
request's copy of its description is masked.

Revision ID: 0022
Revises: 0021
"""

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from registers.free_text import SEALED_TEXT, masked
from registers.settings import RegisterSettings

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

log = logging.getLogger("gridgov.migrations")
# Only these rows can hold a number worth masking (the rest are never read into Python).
_MAYBE = "[0-9]{7,}|[0-9]{3,4}-[0-9]{7,8}|[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z]"
_TEXTS = (
    ("description", "SELECT id::text AS ref, description AS body FROM event WHERE description ~ :maybe",
     "UPDATE event SET description = :body WHERE id = CAST(:ref AS uuid)"),
    ("note", "SELECT case_id::text || ':' || seq AS ref, note AS body FROM case_transition WHERE note ~ :maybe",
     "UPDATE case_transition SET note = :body WHERE case_id = CAST(split_part(:ref, ':', 1) AS uuid)"
     " AND seq = CAST(split_part(:ref, ':', 2) AS int)"),
)  # fmt: skip


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
    bind = op.get_bind()
    protector = RegisterSettings().protector()
    for source, select, update in _TEXTS:
        changed = 0
        for row in bind.execute(sa.text(select), {"maybe": _MAYBE}).all():
            shown = masked(row.body)
            if shown == row.body:
                continue
            bind.execute(sa.text(update), {"body": shown, "ref": row.ref})
            bind.execute(
                sa.text("INSERT INTO sealed_text (source, ref, sealed) VALUES (:s, :r, :sealed)"),
                {"s": source, "r": row.ref, "sealed": protector.seal(row.body, SEALED_TEXT)},
            )
            changed += 1
        if changed:
            log.warning("masked and sealed personal numbers in %d %s(s)", changed, source)
    requests = bind.execute(sa.text("SELECT id, description FROM open311_request WHERE description ~ :maybe"),
                            {"maybe": _MAYBE}).all()  # fmt: skip
    for row in requests:
        if masked(row.description) != row.description:
            bind.execute(
                sa.text("UPDATE open311_request SET description = :d WHERE id = :id"),
                {"d": masked(row.description), "id": row.id},
            )


def downgrade() -> None:
    op.alter_column("pii_access", "action", type_=sa.String(8))
    op.drop_column("pii_access", "case_id")
    op.drop_table("sealed_text")
