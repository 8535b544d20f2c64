"""Events are partitioned by the month they happened in, so a year of reports is a year of months.

``event`` grew by some 2.7 million rows a year in a big district (patrols, visits, reports), one table
and its indexes. It becomes a table partitioned by ``occurred_at`` (a partition per UTC month and a
default one). Every copy of an event carries its ``occurred_at`` (it is part of the content its hash
covers), so a copy sent again meets its first row under the key ``(id, occurred_at)``, as it met it
under ``id``. An id is still held once: ``event_key`` (unpartitioned, one small row an event) keeps
each id with its ``occurred_at`` and content hash, and the writer writes it with the event, so another
event under a held id (other content, maybe another month) meets it there. A photo names its event by
both columns, as a key into a partitioned table must. The rows are copied in place, in one transaction.

Revision ID: 0033
Revises: 0032
"""

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from db.partitions import kept_months, make_months, month_of, months

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

_INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'event' AND indexname <> 'event_pkey'"
_PHOTO_KEY = "fk_photo_event_id_event"


def _set_aside(suffix: str) -> list[str]:
    """Rename the table, its key and indexes out of the way of the new ones; the indexes' definitions."""
    indexes = op.get_bind().execute(text(_INDEXES)).all()
    op.execute(f"ALTER TABLE event RENAME TO event_{suffix}")
    op.execute(f"ALTER TABLE event_{suffix} RENAME CONSTRAINT event_pkey TO event_pkey_{suffix}")
    for name, _ in indexes:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_{suffix}")
    return [definition for _, definition in indexes]


def upgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE photo DROP CONSTRAINT photo_event_id_fkey")
    indexes = _set_aside("unpartitioned")
    op.execute(
        "CREATE TABLE event (LIKE event_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,"
        " CONSTRAINT event_pkey PRIMARY KEY (id, occurred_at)) PARTITION BY RANGE (occurred_at)"
    )
    op.execute("CREATE TABLE event_default PARTITION OF event DEFAULT")
    first = conn.execute(text("SELECT min(occurred_at) FROM event_unpartitioned")).scalar_one()
    kept = kept_months(datetime.now(UTC))
    make_months(conn, "event", months(min(month_of(first), kept[0]) if first else kept[0], kept[-1]))
    op.execute("INSERT INTO event SELECT * FROM event_unpartitioned")
    op.execute(
        "CREATE TABLE event_key (id uuid CONSTRAINT pk_event_key PRIMARY KEY, occurred_at timestamptz NOT NULL,"
        " content_hash varchar(64) NOT NULL)"
    )
    op.execute("INSERT INTO event_key SELECT id, occurred_at, content_hash FROM event_unpartitioned")
    op.execute("DROP TABLE event_unpartitioned")
    for definition in indexes:
        op.execute(definition)
    op.execute("ALTER TABLE photo ADD COLUMN event_occurred_at timestamptz")
    op.execute("UPDATE photo p SET event_occurred_at = e.occurred_at FROM event e WHERE e.id = p.event_id")
    op.execute("ALTER TABLE photo ALTER COLUMN event_occurred_at SET NOT NULL")
    op.execute(
        f"ALTER TABLE photo ADD CONSTRAINT {_PHOTO_KEY} FOREIGN KEY (event_id, event_occurred_at)"
        " REFERENCES event (id, occurred_at)"
    )


def downgrade() -> None:
    op.execute(f"ALTER TABLE photo DROP CONSTRAINT {_PHOTO_KEY}")
    op.execute("ALTER TABLE photo DROP COLUMN event_occurred_at")
    op.execute("DROP TABLE event_key")
    indexes = _set_aside("partitioned")
    op.execute(
        "CREATE TABLE event (LIKE event_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,"
        " CONSTRAINT event_pkey PRIMARY KEY (id))"
    )
    op.execute("INSERT INTO event SELECT * FROM event_partitioned")
    op.execute("DROP TABLE event_partitioned")
    for definition in indexes:
        op.execute(definition)
    op.execute("ALTER TABLE photo ADD CONSTRAINT photo_event_id_fkey FOREIGN KEY (event_id) REFERENCES event (id)")
