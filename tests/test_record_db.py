"""The PostGIS writer against the real database: new batches, replays, and changed content."""

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from geo.locator import Locator
from streams import stages
from streams.schema import Event, Received
from streams.writer import write_events
from tests.pipeline_fixtures import event_body, grid_point


def located(engine: Engine, bodies: list[dict[str, object]]) -> list[stages.LocatedEvent]:
    now = datetime.now(UTC)
    decoded = [
        stages.Decoded(Received.stamp(Event.model_validate_json(json.dumps(b)), now), 0, i)
        for i, b in enumerate(bodies)
    ]
    return stages.locate(decoded, Locator(engine).index())


def rows(engine: Engine, ids: list[str]) -> tuple[dict[str, str], set[str]]:
    """Each id's description in ``event``, and the ids with a case."""
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT id::text, description FROM event WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        ).all()
        cases = conn.execute(
            text('SELECT id::text FROM "case" WHERE id = ANY(CAST(:ids AS uuid[]))'), {"ids": ids}
        ).all()
    return {r[0]: r[1] for r in events}, {r[0] for r in cases}


def test_a_new_batch_is_written_whole_with_a_case_per_incident(demo_city: Engine) -> None:
    _, lon, lat = grid_point(demo_city)
    bodies = [event_body(lon, lat), event_body(lon, lat, kind="patrol", category="0102"), event_body(lon, lat)]
    written = write_events(demo_city, located(demo_city, bodies))
    ids = [str(b["id"]) for b in bodies]
    events, cases = rows(demo_city, ids)
    assert written.inserted == 3 and written.conflicts == []
    assert set(events) == set(ids)
    assert cases == {ids[0], ids[2]}  # the patrol opens none


def test_a_replay_mixed_with_new_events_writes_only_the_new_and_names_changed_content(demo_city: Engine) -> None:
    _, lon, lat = grid_point(demo_city)
    old = [event_body(lon, lat) for _ in range(3)]
    write_events(demo_city, located(demo_city, old))
    changed = old[1] | {"description": "另一个内容"}
    new = [event_body(lon, lat), event_body(lon, lat, kind="visit", category="0102")]
    batch = located(demo_city, [old[0], changed, old[2], *new])

    written = write_events(demo_city, batch)

    ids = [str(b["id"]) for b in old + new]
    events, cases = rows(demo_city, ids)
    assert written.inserted == 2
    assert [c.event_id for c in written.conflicts] == [str(old[1]["id"])]
    assert set(events) == set(ids)
    assert events[str(old[1]["id"])] == old[1]["description"]  # the first content stays
    assert cases == {str(b["id"]) for b in old} | {str(new[0]["id"])}  # one case each, none for the visit


def test_a_database_error_during_copy_is_raised_as_sqlalchemys_so_the_worker_retries(demo_city: Engine) -> None:
    _, lon, lat = grid_point(demo_city)
    item = located(demo_city, [event_body(lon, lat)])[0]
    too_long = item._replace(special="ZS" + "3" * 16)  # special_code holds 17 characters

    with pytest.raises(DBAPIError, match="too long"):
        write_events(demo_city, [too_long])

    assert rows(demo_city, [item.event_id]) == ({}, set())


def test_attachments_are_stored_as_jsonb_lists(demo_city: Engine) -> None:
    _, lon, lat = grid_point(demo_city)
    bodies = [event_body(lon, lat, attachments=["photos/甲.jpg", 'say "hi"']), event_body(lon, lat)]
    write_events(demo_city, located(demo_city, bodies))
    with demo_city.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT id::text, attachments, jsonb_typeof(attachments) FROM event"
                " WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": [b["id"] for b in bodies]},
        ).all()
    assert {r[0]: (r[1], r[2]) for r in stored} == {
        bodies[0]["id"]: (["photos/甲.jpg", 'say "hi"'], "array"),
        bodies[1]["id"]: ([], "array"),
    }
