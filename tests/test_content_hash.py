"""An event's content hash: written field by field, it is the hash of the canonical JSON it always was."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from db.cells import bad_character
from streams.schema import Event, example_event

# The example event's hash, as every release has written it into receipts and event keys: a post
# retried across an upgrade must find its own receipt the same.
EXAMPLE_HASH = "8f60076d2e618217dc7eb40ac7a418be7075b139a4d8121b319abcd4b361e5e3"

# Quotes, backslashes, tabs and line ends (escaped), CJK and beyond the BMP (written as they are).
CHARACTERS = st.sampled_from(list('"\\\t\n\r/ 井盖😀é')) | st.characters(codec="utf-8", categories=("L", "N", "P", "S"))
FREE = st.lists(CHARACTERS, max_size=40).map("".join).filter(lambda s: bad_character(s, multi_line=True) is None)
ONE_LINE = (
    st.lists(CHARACTERS, min_size=1, max_size=20).map("".join).filter(lambda s: s == s.strip() and not bad_character(s))
)
# Whole degrees, tiny and huge magnitudes: floats written by their repr (1e-05, 5e-324, 180.0).
DEGREES = st.floats(-90, 90, allow_nan=False, allow_infinity=False)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))])


@st.composite
def events(draw: st.DrawFn) -> Event:
    """A valid event of any shape: options given or not, a component, a condition, a window (a request)."""
    kind = draw(st.sampled_from(["incident", "patrol", "visit", "component", "request"]))
    at = draw(st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=ZONES))  # noqa: DTZ001 (naive bounds)
    body: dict[str, Any] = {
        "schema_version": 2,
        "id": str(draw(st.uuids())),
        "kind": kind,
        "category": "0102",
        "occurred_at": at.isoformat(),
        "location": {
            "lon": draw(DEGREES) * 2,
            "lat": draw(DEGREES),
            "crs": draw(st.sampled_from(["wgs84", "cgcs2000", "gcj02", "bd09"])),
        },
        "reporter": draw(ONE_LINE),
    }
    if draw(st.booleans()):
        body["location"]["accuracy_m"] = draw(st.one_of(st.none(), st.floats(0, 10_000)))
    for name, value in (("description", FREE), ("attachments", st.lists(ONE_LINE, max_size=3))):
        if draw(st.booleans()):
            body[name] = draw(value)
    if draw(st.booleans()):
        body["household"] = draw(st.one_of(st.none(), ONE_LINE))
    if kind == "component":
        body |= {"kind": "incident", "category": "BJ0101", "component": "3211110101" + "000001", "condition": "1"}
    if kind == "request":
        service = draw(st.sampled_from(["9101", "9102"]))
        body |= {"category": service, "window": {"start": at.isoformat(), "end": (at + timedelta(hours=2)).isoformat()}}
    return Event.model_validate_json(json.dumps(body))


@settings(max_examples=400, deadline=None)
@given(events())
def test_the_written_json_is_the_dumped_json(event: Event) -> None:
    assert event.canonical_json() == event.dumped_canonical()


def test_every_field_is_written() -> None:
    body = example_event() | {"category": "BJ0101", "component": "3211110101000001", "condition": "1"}
    event = Event.model_validate_json(json.dumps(body))
    assert set(json.loads(event.canonical_json())) | {"window"} == set(Event.model_fields)


def test_the_hash_is_the_one_stored_before() -> None:
    event = Event.model_validate_json(json.dumps(example_event()))
    assert event.content_hash() == EXAMPLE_HASH
