"""Pure stages of the worker: the located messages and the jsonb encoding, without services."""

import json
from datetime import UTC, datetime

from streams import stages, writer
from streams.schema import Event, Received
from tests.pipeline_fixtures import event_body


def located(grid: str | None, method: str = "inside", **extra: object) -> stages.LocatedEvent:
    received = Received.stamp(
        Event.model_validate_json(json.dumps(event_body(119.43, 32.2, **extra))), datetime.now(UTC)
    )
    return stages.LocatedEvent(stages.Decoded(received, 0, 0), 119.4301, 32.2011, grid, method, 7)


def test_located_messages_bundle_each_grids_events_under_its_key() -> None:
    a1, a2 = located("321111001001001"), located("321111001001001", "nearest", description='引号 " 和 \\ 反斜杠')
    b, lost = located("321111001002003"), located(None, "none")

    messages = stages.located_messages([a1, b, a2, lost], "t.located")

    assert [(m.topic, m.key) for m in messages] == [
        ("t.located", b"321111001001001"),
        ("t.located", b"321111001002003"),
        ("t.located", b"unplaced"),
    ]
    bodies = [json.loads(m.value)["events"] for m in messages]
    assert [[e["received"]["event"]["id"] for e in events] for events in bodies] == [
        [a1.event_id, a2.event_id],
        [b.event_id],
        [lost.event_id],
    ]
    assert bodies[0][1]["received"]["event"]["description"] == '引号 " 和 \\ 反斜杠'
    assert bodies[0][1]["location"] == {
        "lon": 119.4301,
        "lat": 32.2011,
        "grid": "321111001001001",
        "community": "321111001001",
        "street": "321111001",
        "district": "321111",
        "special": None,
        "method": "nearest",
        "generation": 7,
    }
    assert bodies[0][0]["location"]["method"] == "inside"
    assert bodies[2][0]["location"] | {"lon": 0, "lat": 0} == {
        "lon": 0,
        "lat": 0,
        "grid": None,
        "community": None,
        "street": None,
        "district": None,
        "special": None,
        "method": "none",
        "generation": 7,
    }


def test_jsonb_array_is_the_binary_form_version_then_text() -> None:
    assert writer.jsonb_array([]) == b"\x01[]"
    assert writer.jsonb_array(["照片/1.jpg", 'a"b']) == b"\x01" + '["照片/1.jpg", "a\\"b"]'.encode()


def test_an_old_event_on_the_raw_topic_is_read_with_its_new_code() -> None:
    body = event_body(119.43, 32.2) | {"schema_version": 1, "category": "0501"}  # 违章搭建, now 0101 私搭乱建
    received = {"event": body, "received_at": datetime.now(UTC).isoformat(), "content_hash": "x" * 64}
    decoded, dead = stages.decode([stages.RawRecord("raw", 0, 0, None, json.dumps(received).encode())])
    assert dead == []
    assert (decoded[0].received.event.schema_version, decoded[0].received.event.category) == (1, "0101")
