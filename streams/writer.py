"""The PostGIS writer: events and new cases, idempotent on the event id, by binary COPY it encodes itself."""

import base64
import json
import struct
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.errors import UniqueViolation
from sqlalchemy import Column, Connection, Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from cases.categories import default_categories
from cases.numbers import city_zone, reserve_numbers
from db.tables import case, event
from streams.receipts import count
from streams.stages import LocatedEvent


@dataclass(frozen=True)
class Written:
    """What one write did: rows new to the table, and ids already held with other content."""

    inserted: int
    conflicts: list[LocatedEvent]


# The case columns a new case fills, in ``_case_rows`` order, and their COPY encodings.
CASE_COPY: tuple[tuple[Column[Any], str], ...] = (
    (case.c.id, "uuid"),
    (case.c.kind, "text"),
    (case.c.category, "text"),
    (case.c.condition, "text"),
    (case.c.component, "text"),
    (case.c.sla_class, "text"),
    (case.c.state, "text"),
    (case.c.level, "text"),
    (case.c.grid_code, "text"),
    (case.c.community_code, "text"),
    (case.c.street_code, "text"),
    (case.c.district_code, "text"),
    (case.c.special_code, "text"),
    (case.c.opened_at, "timestamptz"),
    (case.c.event_occurred_at, "timestamptz"),
    (case.c.number, "text"),
)
CASE_COLUMNS = tuple(column.name for column, _ in CASE_COPY)
CASE_TYPES = tuple(kind for _, kind in CASE_COPY)
OPENS_CASE = ("incident", "request")


_EWKB_POINT = struct.Struct("<BIIdd")
_EWKB_POINT_SRID = 0x20000001  # point type with the SRID flag


def ewkb_point(lon: float, lat: float, srid: int = 4326) -> bytes:
    """A point as extended WKB (little-endian, with SRID): what a geometry column reads in binary COPY."""
    return _EWKB_POINT.pack(1, _EWKB_POINT_SRID, srid, lon, lat)


_EMPTY_JSONB_ARRAY = b"\x01[]"


def jsonb_array(values: list[str]) -> bytes:
    """A list in jsonb's binary form (format version 1, then the JSON text), for binary COPY.

    Encoded here rather than by psycopg's jsonb dumper, which calls ``json.dumps`` for every
    row (~3 µs an event), and most events have no attachments.
    """
    return b"\x01" + json.dumps(values, ensure_ascii=False).encode() if values else _EMPTY_JSONB_ARRAY


def event_row(item: LocatedEvent) -> tuple[object, ...]:
    """The event table's columns for binary COPY, in ``EVENT_COPY`` order."""
    received = item.decoded.received
    event = received.event
    location = event.location
    window = event.window
    return (
        event.id,
        event.kind.value,
        event.category,
        event.condition,
        event.component,
        event.occurred_at,
        received.received_at,
        event.reporter,
        event.description,
        jsonb_array(event.attachments),
        event.household,
        location.crs.value,
        location.lon,
        location.lat,
        location.accuracy_m,
        ewkb_point(item.lon, item.lat),
        *item.codes(),
        item.special,
        item.method,
        item.generation_id,
        received.content_hash,
        item.decoded.partition,
        item.decoded.offset,
        window.start if window else None,
        window.end if window else None,
    )


# The event columns binary COPY fills, in ``event_row`` order, and how psycopg encodes each (geom: EWKB bytes).
EVENT_COPY: tuple[tuple[Column[Any], str], ...] = (
    (event.c.id, "uuid"),
    (event.c.kind, "text"),
    (event.c.category, "text"),
    (event.c.condition, "text"),
    (event.c.component, "text"),
    (event.c.occurred_at, "timestamptz"),
    (event.c.received_at, "timestamptz"),
    (event.c.reporter, "text"),
    (event.c.description, "text"),
    (event.c.attachments, "bytea"),  # attachments: jsonb, sent as its binary form by ``jsonb_array``
    (event.c.household, "text"),
    (event.c.crs, "text"),
    (event.c.lon_reported, "float8"),
    (event.c.lat_reported, "float8"),
    (event.c.accuracy_m, "float8"),
    (event.c.geom, "bytea"),
    (event.c.grid_code, "text"),
    (event.c.community_code, "text"),
    (event.c.street_code, "text"),
    (event.c.district_code, "text"),
    (event.c.special_code, "text"),
    (event.c.locate_method, "text"),
    (event.c.generation_id, "int4"),
    (event.c.content_hash, "text"),
    (event.c.source_partition, "int4"),
    (event.c.source_offset, "int8"),
    (event.c.window_start, "timestamptz"),
    (event.c.window_end, "timestamptz"),
)
EVENT_COLUMNS = tuple(column.name for column, _ in EVENT_COPY)
EVENT_TYPES = tuple(kind for _, kind in EVENT_COPY)
# And ``event_key``'s: the id, the moment that places its row, the hash that tells a copy from another event.
KEY_COLUMNS = ("id", "occurred_at", "content_hash")
KEY_TYPES = ("uuid", "timestamptz", "text")


def _key_row(item: LocatedEvent) -> tuple[object, ...]:
    received = item.decoded.received
    return (received.event.id, received.event.occurred_at, received.content_hash)


def write_events(engine: Engine, batch: list[LocatedEvent]) -> Written:
    """Insert the batch (and a case per new incident or request) in one transaction; replays insert nothing.

    The usual batch holds only new ids, and goes straight into the tables by COPY.
    If any id is already there (a replay after a crash, a duplicate post), the
    COPY fails on the key and the batch takes the slower path that skips them.
    """
    if not batch:
        return Written(0, [])
    opening = [item for item in batch if item.decoded.received.event.kind.value in OPENS_CASE]
    reported = [(item.codes()[3], item.decoded.received.received_at) for item in opening]
    numbers = dict(zip((item.uuid for item in opening), reserve_numbers(engine, reported, city_zone()), strict=True))
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                _copy(conn, "event_key", KEY_COLUMNS, KEY_TYPES, (_key_row(item) for item in batch))
                _copy(conn, "event", EVENT_COLUMNS, EVENT_TYPES, map(event_row, batch))
                _copy(conn, '"case"', CASE_COLUMNS, CASE_TYPES, _case_rows(batch, numbers))
            written = Written(len(batch), [])
        except IntegrityError as exc:
            if not isinstance(exc.orig, UniqueViolation):
                raise
            written = _insert_missing(conn, batch, numbers)
        _keep_sealed(conn, batch)
        _keep_last_visits(conn, batch)
        count(conn, "recorded", written.inserted)  # last: the counter's row lock is held only for the commit
        return written


_LAST_VISITS = """
UPDATE household h SET last_visit_at = v.last, last_visit_on = v.day
FROM unnest(CAST(:households AS text[]), CAST(:lasts AS timestamptz[]), CAST(:days AS date[]))
     AS v(household, last, day)
WHERE h.id = v.household AND (h.last_visit_at IS NULL OR h.last_visit_at < v.last)
"""


def _keep_last_visits(conn: Connection, batch: list[LocatedEvent]) -> None:
    """Each visited household keeps its latest visit and that visit's local day (registers.visits reads them).

    An older or replayed visit changes nothing. Households go in their ids' order, so two writers lock
    them in the same order.
    """
    latest: dict[str, datetime] = {}
    for item in batch:
        event = item.decoded.received.event
        if event.kind.value == "visit" and event.household:
            latest[event.household] = max(latest.get(event.household, event.occurred_at), event.occurred_at)
    if latest:
        households, zone = sorted(latest), city_zone()
        lasts = [latest[h] for h in households]
        days = [last.astimezone(zone).date() for last in lasts]
        conn.execute(text(_LAST_VISITS), {"households": households, "lasts": lasts, "days": days})


def _keep_sealed(conn: Connection, batch: list[LocatedEvent]) -> None:
    """The sealed originals of descriptions that held personal numbers (few; a replay adds none)."""
    rows = [
        {"ref": str(item.uuid), "sealed": base64.b64decode(sealed)}
        for item in batch
        if (sealed := item.decoded.received.sealed)
    ]
    if rows:
        conn.execute(
            text(
                "INSERT INTO sealed_text (source, ref, sealed) VALUES ('description', :ref, :sealed)"
                " ON CONFLICT DO NOTHING"
            ),
            rows,
        )


def _copy(
    conn: Connection, table: str, columns: tuple[str, ...], types: tuple[str, ...], rows: Iterable[tuple[object, ...]]
) -> None:
    """Binary COPY of ``rows``: psycopg encodes them in C (five times faster than text here).

    COPY goes to the driver directly; its errors are raised as SQLAlchemy's, as any
    other statement's are (the worker retries a batch on ``DBAPIError``).
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def case_level(codes: tuple[str | None, ...]) -> str:
    """The level that takes a new case in: its grid's; in a coverage gap, the community's, else the street's.

    A report in a district but in no street is held at street level by the district
    (its intake queue): its only code is the district's, which only the district sees.
    """
    grid, community = codes[0], codes[1]
    return "grid" if grid else "community" if community else "street"


def _case_rows(batch: list[LocatedEvent], numbers: dict[uuid.UUID, str]) -> Iterator[tuple[object, ...]]:
    """A new case, at the level of its place and with its number, for each incident and request of the batch."""
    classes = default_categories()
    for item in batch:
        received = item.decoded.received
        kind, category = received.event.kind.value, received.event.category
        if kind in OPENS_CASE:
            sla_class = classes[category].sla_class.value
            condition = classes[category].condition(received.event.condition)
            codes = item.codes()
            level = case_level(codes)
            opened = received.received_at
            yield (
                item.uuid,
                kind,
                category,
                condition.number if condition else None,
                received.event.component,
                sla_class,
                "reported",
                level,
                *codes,
                item.special,
                opened,
                received.event.occurred_at,
                numbers[item.uuid],
            )


# An id is held once, by ``event_key`` (``event`` is keyed per month: by (id, occurred_at)): the ids new to
# it are claimed there, one row of the batch per id, and only the rows that claimed one go into ``event``.
INSERT_NEW = (
    "WITH keyed AS (INSERT INTO event_key ({keys}) SELECT DISTINCT ON (id) {keys} FROM incoming ORDER BY id"
    " ON CONFLICT (id) DO NOTHING RETURNING {keys})"
    " INSERT INTO event ({columns}) SELECT DISTINCT ON (i.id) {chosen} FROM incoming i"
    " JOIN keyed k USING ({keys}) ORDER BY i.id RETURNING id"
)


def _insert_missing(conn: Connection, batch: list[LocatedEvent], numbers: dict[uuid.UUID, str]) -> Written:
    """The batch less the ids already held, and which of those held other content."""
    columns = ", ".join(EVENT_COLUMNS)
    conn.execute(text("CREATE TEMP TABLE incoming (LIKE event INCLUDING DEFAULTS) ON COMMIT DROP"))
    _copy(conn, "incoming", EVENT_COLUMNS, EVENT_TYPES, map(event_row, batch))
    chosen = ", ".join(f"i.{column}" for column in EVENT_COLUMNS)
    new = set(
        conn.execute(text(INSERT_NEW.format(keys=", ".join(KEY_COLUMNS), columns=columns, chosen=chosen))).scalars()
    )
    # Cases are opened only for events new to the table, so a replay opens none.
    _copy(conn, '"case"', CASE_COLUMNS, CASE_TYPES, _case_rows([item for item in batch if item.uuid in new], numbers))
    conflicting = {
        (row.id, row.content_hash)
        for row in conn.execute(
            text(
                "SELECT i.id, i.content_hash FROM incoming i JOIN event_key k ON k.id = i.id"
                " WHERE k.content_hash <> i.content_hash"
            )
        )
    }
    return Written(len(new), [item for item in batch if (item.uuid, item.decoded.received.content_hash) in conflicting])
