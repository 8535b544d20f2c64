"""Receipts: what the API accepted, held in PostgreSQL until the event is recorded.

A receipt carries the event's raw-topic message. With a broker that keeps its log
through a crash (replicated Kafka, acks=all) it is a second copy; with the local
in-memory broker it is the copy that survives, so it is committed synchronously
before the 202, and ``streams.reconcile`` sends again what the broker lost.
"""

from sqlalchemy import Connection, Engine, text

from streams.schema import Received

# One round trip: the insert claims new ids; the selects (which see the tables as they were
# before the statement) return what earlier requests stored, as receipts or recorded events.
# Without ``durable`` the first select also turns off the wait for the disk for this commit
# (evaluated once, before the scan: no round trip of its own).
# In the driver's own placeholders: %(name)b sends the arrays in binary, where psycopg's
# text form quotes and escapes each payload in Python (~7 µs a post at 50 a statement).
CLAIM = (
    "WITH claimed AS (INSERT INTO event_receipt (id, content_hash, reporter, payload)"
    " SELECT * FROM unnest(CAST(%(ids)b AS uuid[]), %(hashes)b::text[], %(reporters)b::text[], %(payloads)b::bytea[])"
    " ON CONFLICT (id) DO NOTHING)"
    " SELECT id::text, content_hash FROM event_receipt WHERE id = ANY(CAST(%(ids)b AS uuid[])){asynchronous}"
    " UNION ALL SELECT id::text, content_hash FROM event_key WHERE id = ANY(CAST(%(ids)b AS uuid[]))"
)
ASYNC_COMMIT = " AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL"


def claim(engine: Engine, received: list[Received], payloads: list[bytes], *, durable: bool) -> set[str]:
    """Store a receipt per new id (``payloads[i]`` is ``received[i]``'s message); return ids held otherwise.

    ``durable`` commits synchronously: the receipt then survives a crash of PostgreSQL
    as well as of the broker. Raises the database's error when it is unreachable.
    """
    hashes = {str(r.event.id): r.content_hash for r in received}
    statement = CLAIM.format(asynchronous="" if durable else ASYNC_COMMIT)
    values = {
        "ids": list(hashes),
        "hashes": list(hashes.values()),
        "reporters": [r.event.reporter for r in received],
        "payloads": payloads,
    }
    with engine.begin() as conn:
        rows = conn.exec_driver_sql(statement, values).all()
    return {id_ for id_, digest in rows if hashes[id_] != digest}


def count(conn: Connection, name: str, n: int) -> None:
    """Add ``n`` to the pipeline counter ``name``."""
    if n:
        conn.execute(
            text(
                "INSERT INTO pipeline_counter (name, value) VALUES (:name, :n)"
                " ON CONFLICT (name) DO UPDATE SET value = pipeline_counter.value + :n"
            ),
            {"name": name, "n": n},
        )
