"""The PostGIS writer: events and new cases, idempotent on the event id."""

import io
from dataclasses import dataclass

from sqlalchemy import Engine, text

from streams.categories import default_categories
from streams.stages import EVENT_COLUMNS, LocatedEvent, event_row


@dataclass(frozen=True)
class Written:
    """What one write did: rows new to the table, and ids already held with other content."""

    inserted: int
    conflicts: list[LocatedEvent]


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def write_events(engine: Engine, batch: list[LocatedEvent]) -> Written:
    """Insert the batch (and a case per new incident) in one transaction; replays insert nothing."""
    if not batch:
        return Written(0, [])
    buffer = io.StringIO()
    for item in batch:
        buffer.write("\t".join(_copy_text(v) for v in event_row(item)) + "\n")
    columns = ", ".join(EVENT_COLUMNS)
    classes = default_categories()
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE incoming (LIKE event INCLUDING DEFAULTS) ON COMMIT DROP"))
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY incoming ({columns}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        inserted = conn.execute(
            text(f"INSERT INTO event ({columns}) SELECT {columns} FROM incoming ON CONFLICT (id) DO NOTHING")
        ).rowcount
        conflicting = {
            str(row[0])
            for row in conn.execute(
                text("SELECT i.id FROM incoming i JOIN event e ON e.id = i.id WHERE e.content_hash <> i.content_hash")
            )
        }
        conn.execute(
            text(
                'INSERT INTO "case" (id, category, sla_class, state, level, grid_code, community_code, street_code,'
                " district_code, opened_at)"
                " SELECT i.id, i.category, c.sla_class, 'reported', 'grid', i.grid_code, i.community_code,"
                " i.street_code, i.district_code, i.received_at"
                " FROM incoming i JOIN event e ON e.id = i.id AND e.content_hash = i.content_hash"
                " JOIN (SELECT unnest(CAST(:codes AS text[])) AS code,"
                " unnest(CAST(:classes AS text[])) AS sla_class) c ON c.code = i.category"
                " WHERE i.kind = 'incident' ON CONFLICT (id) DO NOTHING"
            ),
            {"codes": list(classes), "classes": [c.sla_class.value for c in classes.values()]},
        )
    return Written(inserted, [item for item in batch if item.event_id in conflicting])
