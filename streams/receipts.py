"""Receipts: what the API accepted, held in PostgreSQL until the event is recorded.

A receipt carries the event's raw-topic message. With a broker that keeps its log
through a crash (replicated Kafka, acks=all) it is a second copy; with the local
in-memory broker it is the copy that survives, so it is committed synchronously
before the 202, and ``streams.reconcile`` sends again what the broker lost.
"""

import logging
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, PoolProxiedConnection, text
from sqlalchemy.exc import DBAPIError

from streams.schema import Received

log = logging.getLogger(__name__)

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
    values = _values(received, payloads)
    with engine.begin() as conn:
        rows = conn.exec_driver_sql(_statement(durable), values).all()
    return _conflicts(values, rows)


class HeldClaims:
    """``claim`` on a connection of its own, kept from one call to the next (the API's intake).

    A pool's checkout pings the server (a round trip) and SQLAlchemy's statement steps wrap
    the driver's: a group's claim of 31 receipts took ~750 µs of CPU that way and ~320 µs on the
    driver's connection held here (timed alone on the benchmark's database). Calls take turns. A held
    connection the server dropped meanwhile (a restart) is replaced and the claim sent once
    more on the new one, as the pool's ping would have replaced it: the statement stores
    nothing twice and finds the receipts of an attempt that did commit as its own. Other
    errors are raised as SQLAlchemy raises them (``OperationalError`` and the like).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._held: PoolProxiedConnection | None = None

    def __call__(self, received: list[Received], payloads: list[bytes], *, durable: bool) -> set[str]:
        """As ``claim``."""
        values = _values(received, payloads)
        with self._lock:
            held_before = self._held is not None
            try:
                return _conflicts(values, self._execute(_statement(durable), values))
            except DBAPIError as exc:
                if not (held_before and exc.connection_invalidated):
                    raise
                log.info("receipts: the held connection was dropped (%s); claiming anew", type(exc.orig).__name__)
            return _conflicts(values, self._execute(_statement(durable), values))

    def _execute(self, statement: str, values: dict[str, list[Any]]) -> Sequence[Sequence[Any]]:
        """One attempt, committed; the driver's error raised as SQLAlchemy's, the connection let go."""
        dialect = self._engine.dialect
        try:
            if self._held is None:
                self._held = self._engine.raw_connection()  # from the pool: pinged
            cursor = self._held.cursor()
            try:
                cursor.execute(statement, values)
                rows = cursor.fetchall()
            finally:
                cursor.close()
            self._held.commit()
            return rows
        except dialect.loaded_dbapi.Error as exc:
            dropped = self._held is None or dialect.is_disconnect(exc, self._held, None)
            self._drop(dropped)
            raise DBAPIError.instance(
                statement, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=dropped, dialect=dialect
            ) from exc

    def _drop(self, dropped: bool) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        if dropped:
            held.invalidate()
            return
        try:
            held.rollback()
            held.close()  # back to the pool, whole
        except Exception:  # noqa: BLE001 - a connection that cannot end its transaction is not kept
            held.invalidate()

    def close(self) -> None:
        """Give the held connection back to the pool; a claim still under way (a hung server) keeps it."""
        if not self._lock.acquire(blocking=False):
            return  # the process is ending: shutting down does not wait for the server
        try:
            if self._held is not None:
                self._held.close()
                self._held = None
        finally:
            self._lock.release()


def _statement(durable: bool) -> str:
    return CLAIM.format(asynchronous="" if durable else ASYNC_COMMIT)


def _values(received: list[Received], payloads: list[bytes]) -> dict[str, list[Any]]:
    return {
        "ids": [str(r.event.id) for r in received],
        "hashes": [r.content_hash for r in received],
        "reporters": [r.event.reporter for r in received],
        "payloads": payloads,
    }


def _conflicts(values: dict[str, list[Any]], rows: Sequence[Sequence[Any]]) -> set[str]:
    """The ids the database holds with another content than the claim's ``values``."""
    hashes = dict(zip(values["ids"], values["hashes"], strict=True))
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
