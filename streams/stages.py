"""Pure stages of the recording pipeline: lists in, lists out, no Kafka or database inside."""

import base64
import json
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from pydantic import ValidationError

from geo.grid_index import GridIndex
from streams.producer import Message
from streams.schema import Received, summary


class RawRecord(NamedTuple):
    """A message as consumed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Decoded(NamedTuple):
    """A valid event with where it came from (and its bytes, passed on unparsed)."""

    received: Received
    partition: int
    offset: int
    value: bytes = b""

    def original(self) -> bytes:
        """The bytes as consumed (re-encoded only when they were not kept)."""
        return self.value or self.received.to_bytes()

    def as_raw(self, topic: str = "") -> "RawRecord":
        """The record this came from, for a dead letter."""
        return RawRecord(topic, self.partition, self.offset, None, self.original())


@dataclass(frozen=True)
class DeadLetter:
    """A record that cannot be processed, with the reason."""

    reason: str
    source: RawRecord

    def to_record(self, topic: str) -> Message:
        """The dead-letter message: reason, origin and the original bytes (base64)."""
        body = {
            "reason": self.reason,
            "source_topic": self.source.topic,
            "source_partition": self.source.partition,
            "source_offset": self.source.offset,
            "original_b64": base64.b64encode(self.source.value or b"").decode(),
        }
        return Message(topic, self.source.key, json.dumps(body, ensure_ascii=False).encode())


class LocatedEvent(NamedTuple):
    """An event with its grid, community, street and district (None where unplaced).

    ``place`` is the most precise code: the grid, or in a coverage gap the community,
    street or district that holds the point. ``special`` is the special grid it lies in.
    """

    decoded: Decoded
    lon: float
    lat: float
    grid: str | None
    method: str
    generation_id: int
    place: str | None = None
    special: str | None = None

    @property
    def event_id(self) -> str:
        """The client's id as text."""
        return str(self.uuid)

    @property
    def uuid(self) -> UUID:
        """The client's id as a UUID (hashes faster than its text)."""
        return self.decoded.received.event.id

    def codes(self) -> tuple[str | None, str | None, str | None, str | None]:
        """Grid, community, street and district codes (those above a gap's area are None)."""
        p = self.place or self.grid
        if p is None:
            return (None, None, None, None)
        g, c, s, d = (p[:n] if len(p) >= n else None for n in (15, 12, 9, 6))
        return (g, c, s, d)


def decode(records: list[RawRecord]) -> tuple[list[Decoded], list[DeadLetter]]:
    """Parse and validate each record; the ones that fail become dead letters."""
    oks: list[Decoded] = []
    errs: list[DeadLetter] = []
    for record in records:
        if record.value is None:
            errs.append(DeadLetter("empty message", record))
            continue
        try:
            received = Received.model_validate_json(record.value)
        except ValidationError as exc:
            errs.append(DeadLetter(f"invalid event: {summary(exc, 5)}", record))
            continue
        oks.append(Decoded(received, record.partition, record.offset, record.value))
    return oks, errs


def dedupe(decoded: list[Decoded]) -> tuple[list[Decoded], list[DeadLetter]]:
    """Keep the first of each id; a later copy with other content is a dead letter."""
    first: dict[UUID, Decoded] = {}
    errs: list[DeadLetter] = []
    for item in decoded:
        key = item.received.event.id
        seen = first.get(key)
        if seen is None:
            first[key] = item
        elif seen.received.content_hash != item.received.content_hash:
            errs.append(DeadLetter(f"event {key} was sent again with different content", item.as_raw()))
    return list(first.values()), errs


def locate(decoded: list[Decoded], index: GridIndex) -> list[LocatedEvent]:
    """Place the whole batch in one call of the index."""
    if not decoded:
        return []
    locations = [d.received.event.location for d in decoded]
    found = index.locate(
        [loc.lon for loc in locations],
        [loc.lat for loc in locations],
        [loc.crs.value for loc in locations],
        [loc.accuracy_m if loc.accuracy_m is not None else 0.0 for loc in locations],
    )
    places, methods = found.place(), found.methods  # the grid is the place when it has a grid's 15 digits
    grids = [p if p is not None and len(p) == 15 else None for p in places]
    special = found.special or [None] * len(decoded)
    return [
        LocatedEvent(
            d,
            float(found.lon[i]),
            float(found.lat[i]),
            grids[i],
            methods[i],
            found.generation_id,
            places[i],
            special[i],
        )
        for i, d in enumerate(decoded)
    ]


def located_messages(items: list[LocatedEvent], topic: str) -> list[Message]:
    """One message per grid with that grid's located events of the batch, keyed by grid.

    The key keeps one grid's events in one partition. Bundling cuts the number of
    messages (and the producer's per-message cost) by the batch's events per grid.
    The value is ``{"events": [{"received": <raw message as it came>, "location": {...}}, ...]}``;
    raw bytes are passed through rather than parsed and dumped again.
    """
    by_grid: dict[str | None, list[bytes]] = {}
    places: dict[tuple[str | None, str | None, str, int], bytes] = {}  # the location's other fields, formatted once
    for item in items:
        key = (item.place, item.special, item.method, item.generation_id)
        place = places.get(key)
        if place is None:
            place = places[key] = _place_json(item)
        # Formatted by hand (json.dumps per event was ~5% of the worker's time): lon and lat are finite floats.
        by_grid.setdefault(item.grid, []).append(
            b'{"received":%s,"location":{"lon":%r,"lat":%r,%s}}' % (item.decoded.original(), item.lon, item.lat, place)
        )
    return [
        Message(topic, (grid or "unplaced").encode(), b'{"events":[' + b",".join(events) + b"]}")
        for grid, events in by_grid.items()
    ]


def _place_json(item: LocatedEvent) -> bytes:
    """The location's codes, method and generation as JSON members (digit codes and names: no escapes)."""
    grid, community, street, district, special = (
        b"null" if c is None else b'"%s"' % c.encode() for c in (*item.codes(), item.special)
    )
    return b'"grid":%s,"community":%s,"street":%s,"district":%s,"special":%s,"method":"%s","generation":%d' % (
        grid,
        community,
        street,
        district,
        special,
        item.method.encode(),
        item.generation_id,
    )
