"""The notices to people (migration 0024): written with a transition, sent by the clock (streams.notices)."""

from sqlalchemy import BigInteger, Column, Identity, Index, Integer, String, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID

from db.tables import at_column, metadata, now_column

# One message to one person about one case: dispatched to them, or sent back for rework.
notice = Table(
    "notice",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("case_id", UUID(as_uuid=True), nullable=False),  # no foreign key: a notice outlives nothing it names
    Column("kind", String(16), nullable=False),  # dispatched, rework
    now_column("created_at"),
    at_column("sent_at"),  # NULL: not sent yet
    Column("attempts", Integer, server_default="0", nullable=False),
    Column("error", Text),  # the last failure, or why it was not sent (no phone)
    Index("ix_notice_unsent", "id", postgresql_where=text("sent_at IS NULL")),
)
