"""Events are partitioned by the month they happened in (migration 0033, db.partitions): the rows copied in
place, an id held once whatever month another event under it names, months dropped by GRIDGOV_EVENT_MONTHS
only once every case they opened has ended, and their photos with them."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, text

from api.settings import Settings
from cases.settings import SlaSettings
from db.engine import alembic_config, upgrade
from db.partitions import case_report, make_months, months, partitions
from geo.locator import Locator
from streams import stages
from streams.schema import Event, Received
from streams.sla import prune_months
from streams.writer import write_events
from tests.pipeline_fixtures import event_body, insert_case

EVENT = (
    "INSERT INTO event (id, kind, category, occurred_at, received_at, reporter, description, attachments, crs,"
    " lon_reported, lat_reported, geom, locate_method, content_hash) VALUES (:id, :kind, :category, :at, :at,"
    " 'gw', '', '[]', 'wgs84', 119.4, 32.2, ST_SetSRID(ST_MakePoint(119.4, 32.2), 4326), 'none', 'x')"
)
INDEXES = "SELECT indexname FROM pg_indexes WHERE tablename = 'event' ORDER BY 1"
KEY = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'event_pkey'"
PHOTO = (
    "INSERT INTO photo (event_id, {occurred}sha256, stage, media_type, bytes, width, height, flags, uploaded_by,"
    " content) SELECT id, {value}:h, 'before', 'image/png', 1, 1, 1, '{{}}', 'gw', '\\x00' FROM event WHERE id = :e"
)


def _event(conn: Connection, at: datetime, kind: str = "patrol", case: str | None = None) -> uuid.UUID:
    """An event at ``at``; with ``case``, an incident whose case is in that state."""
    event_id = uuid.uuid4()
    category = "0102" if case else "9001"
    conn.execute(text(EVENT), {"id": event_id, "kind": "incident" if case else kind, "category": category, "at": at})
    if case:
        insert_case(conn, event_id, at, case, at)
    return event_id


def _photo(conn: Connection, event_id: uuid.UUID, *, named_by_month: bool = True) -> None:
    columns = {"occurred": "event_occurred_at, ", "value": "occurred_at, "} if named_by_month else {}
    conn.execute(
        text(PHOTO.format(**(columns or {"occurred": "", "value": ""}))), {"e": event_id, "h": event_id.hex * 2}
    )


def test_events_are_made_partitioned_in_place_with_their_rows_and_photos(
    scratch_settings: Settings, scratch_engine: Engine
) -> None:
    """At schema 0032: events of 3 June 2025, 9 January 2026 and now; a photo on the June one, and a case opened
    from it on 9 January (received late: 0034 gives the case its report's moment, June's)."""
    url = scratch_settings.database.url
    command.downgrade(alembic_config(url), "0032")
    june, january, now = datetime(2025, 6, 3, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC), datetime.now(UTC)
    with scratch_engine.begin() as conn:
        ids = {at: _event(conn, at) for at in (june, january, now)}
        _photo(conn, ids[june], named_by_month=False)
        insert_case(conn, ids[june], january, "closed")
        before = conn.execute(text("SELECT id, occurred_at, content_hash FROM event ORDER BY id")).all()
        indexed = conn.execute(text(INDEXES)).all()
    upgrade(url, "head")
    with scratch_engine.begin() as conn:
        after = conn.execute(text("SELECT id, occurred_at, content_hash FROM event ORDER BY id")).all()
        placed = conn.execute(
            text("SELECT id, CAST(tableoid AS regclass)::text FROM event WHERE id = ANY(:ids)"),
            {"ids": list(ids.values())},
        ).all()
        made = partitions(conn, "event")
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'event'")).scalar_one()
        photo = conn.execute(text("SELECT event_id, event_occurred_at FROM photo")).one()
        indexes = conn.execute(text(INDEXES)).all()
        key = conn.execute(text(KEY)).scalar_one()
        reported = conn.execute(text('SELECT opened_at, event_occurred_at FROM "case"')).one()
    assert after == before and kind == "p"  # the same rows, in a partitioned table
    assert dict(placed) == {
        ids[june]: "event_y2025m06",
        ids[january]: "event_y2026m01",
        ids[now]: f"event_y{now:%Y}m{now:%m}",
    }
    assert min(made) == date(2025, 6, 1) and len(made) >= 19  # June 2025 to three months ahead of now
    assert tuple(photo) == (ids[june], june)  # the photo names its event by both columns of the key
    assert indexes == indexed and len(indexed) == 8  # the key and the seven indexes, made again
    assert key == "PRIMARY KEY (id, occurred_at)"
    assert tuple(reported) == (january, june)  # the case reads its report in June's partition
    # And back: the downgrade gives one table keyed by the id, with the same rows.
    command.downgrade(alembic_config(url), "0032")
    with scratch_engine.connect() as conn:
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'event'")).scalar_one()
        again = conn.execute(text("SELECT id, occurred_at, content_hash FROM event ORDER BY id")).all()
        key = conn.execute(text(KEY)).scalar_one()
        columns = conn.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = 'case'")
        ).scalars()
        names = set(columns)
    assert kind == "r" and again == before and key == "PRIMARY KEY (id)"
    assert "event_occurred_at" not in names
    upgrade(url, "head")


def _written(engine: Engine, locator: Locator, bodies: list[dict[str, object]]) -> tuple[int, list[str]]:
    """``bodies`` written as one batch, as the worker writes: rows new to the table, ids refused as conflicts."""
    decoded = [
        stages.Decoded(Received.stamp(Event.model_validate_json(json.dumps(body)), datetime.now(UTC)), 0, n)
        for n, body in enumerate(bodies)
    ]
    written = write_events(engine, stages.locate(decoded, locator.index()))
    return written.inserted, [str(item.uuid) for item in written.conflicts]


def test_an_id_is_held_once_whatever_month_another_event_under_it_names(demo_city: Engine) -> None:
    """A patrol of 40 days ago; the same again (a copy); another patrol under its id dated today (another month,
    another partition); both in one batch under a fresh id. Each id is held by one row, the first written."""
    locator = Locator(demo_city)
    first = event_body(119.43, 32.2, kind="patrol", category="9001", reporter="month-test")
    first["occurred_at"] = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    other = first | {"occurred_at": datetime.now(UTC).isoformat(), "description": "另一次巡查"}
    fresh = str(uuid.uuid4())
    try:
        assert _written(demo_city, locator, [first]) == (1, [])
        assert _written(demo_city, locator, [first]) == (0, [])  # a copy: the same key, nothing new
        assert _written(demo_city, locator, [other]) == (0, [first["id"]])  # refused, though its month is another
        twice = [first | {"id": fresh}, other | {"id": fresh}]
        inserted, conflicts = _written(demo_city, locator, twice)
        assert inserted == 1 and conflicts == [fresh]
        with demo_city.connect() as conn:
            held = conn.execute(
                text("SELECT id::text, count(*) FROM event WHERE id = ANY(CAST(:ids AS uuid[])) GROUP BY id"),
                {"ids": [first["id"], fresh]},
            ).all()
            kept = conn.execute(text("SELECT description FROM event WHERE id = :id"), {"id": first["id"]}).scalar_one()
    finally:
        with demo_city.begin() as conn:
            for table in ("event", "event_key"):
                conn.execute(
                    text(f"DELETE FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": [first["id"], fresh]}
                )
    assert dict(held) == {first["id"]: 1, fresh: 1} and kept == first["description"]


def _scanned(node: dict[str, Any]) -> set[str]:
    """The tables an ``EXPLAIN (ANALYZE, FORMAT JSON)`` plan read (nodes not executed left out)."""
    found = {node["Relation Name"]} if "Relation Name" in node and node.get("Actual Loops", 0) > 0 else set()
    return found.union(*(_scanned(child) for child in node.get("Plans", [])))


def test_a_case_reads_its_report_in_the_one_month_it_happened_in(demo_city: Engine) -> None:
    """Two reports written as the worker writes them, one dated 40 days back (received now), one now: each case
    keeps its report's moment, and reading the two cases' reports (db.partitions.case_report) reads the two
    reports' partitions and no other month."""
    locator = Locator(demo_city)
    old = event_body(119.43, 32.2, reporter="month-test")
    old["occurred_at"] = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    new = event_body(119.43, 32.2, reporter="month-test")
    ids = {"ids": [old["id"], new["id"]]}
    try:
        assert _written(demo_city, locator, [old, new]) == (2, [])
        with demo_city.connect() as conn:
            kept = conn.execute(
                text('SELECT id::text, event_occurred_at FROM "case" WHERE id = ANY(CAST(:ids AS uuid[]))'), ids
            ).all()
            placed = conn.execute(
                text("SELECT CAST(tableoid AS regclass)::text FROM event WHERE id = ANY(CAST(:ids AS uuid[]))"), ids
            ).scalars()
            months = set(placed)
            plan = conn.execute(
                text(
                    f'EXPLAIN (ANALYZE, FORMAT JSON) SELECT e.description FROM "case" c {case_report()}'
                    " WHERE c.id = ANY(CAST(:ids AS uuid[]))"
                ),
                ids,
            ).scalar_one()
    finally:
        with demo_city.begin() as conn:
            for table in ('"case"', "event", "event_key"):
                conn.execute(text(f"DELETE FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))"), ids)
    assert set(map(tuple, kept)) == {(b["id"], datetime.fromisoformat(b["occurred_at"])) for b in (old, new)}
    read = {name for name in _scanned(plan[0]["Plan"]) if name.startswith("event")}
    assert len(months) == 2 and read == months  # the two months (or the default) holding them, no other


def test_a_month_of_events_goes_only_once_every_case_of_it_has_ended(scratch_engine: Engine) -> None:
    """Months of 2020 made: January (a patrol; a report whose case is open), February (two patrols; a report whose
    case closed, with a photo). The default partition: a patrol of December 2019 and a report of then, still open.

    Kept 12 months, on 15 April 2021 the cut-off is 1 April 2020: February goes (3 rows, and the photo), March
    (ended, empty), and the default's patrol (1 row): 4. January stays while its case is open, and goes (2 rows)
    once it closed. The cases themselves stay (the indicators read them).
    """
    with scratch_engine.begin() as conn:
        make_months(conn, "event", months(date(2020, 1, 1), date(2020, 3, 1)))
        _event(conn, datetime(2020, 1, 5, tzinfo=UTC))
        open_case = _event(conn, datetime(2020, 1, 20, tzinfo=UTC), case="in_progress")
        for day in (2, 3):
            _event(conn, datetime(2020, 2, day, tzinfo=UTC))
        _photo(conn, _event(conn, datetime(2020, 2, 29, 23, tzinfo=UTC), case="closed"))
        _event(conn, datetime(2019, 12, 3, tzinfo=UTC))
        old_open = _event(conn, datetime(2019, 12, 9, tzinfo=UTC), case="filed")
    now = datetime(2021, 4, 15, tzinfo=UTC)
    assert prune_months(scratch_engine, "event", now, 0) == 0  # kept for good
    assert prune_months(scratch_engine, "event", now, 12) == 4
    with scratch_engine.connect() as conn:
        kept = set(partitions(conn, "event"))
        left = set(conn.execute(text("SELECT id FROM event WHERE kind = 'incident'")).scalars())
        photos = conn.execute(text("SELECT count(*) FROM photo")).scalar_one()
        cases = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
        january = conn.execute(text("SELECT count(*) FROM event_y2020m01")).scalar_one()
    assert date(2020, 1, 1) in kept and not {date(2020, 2, 1), date(2020, 3, 1)} & kept
    assert left == {open_case, old_open} and photos == 0 and cases == 3 and january == 2
    with scratch_engine.begin() as conn:
        conn.execute(text("""UPDATE "case" SET state = 'closed' WHERE id = :id"""), {"id": open_case})
    assert prune_months(scratch_engine, "event", now, 12) == 2
    assert prune_months(scratch_engine, "event", now, 12) == 0


def test_events_kept_under_a_year_are_refused() -> None:
    with pytest.raises(ValidationError, match="GRIDGOV_EVENT_MONTHS must be 0 .kept for good. or at least 12, not 3"):
        SlaSettings(event_months=3)
    assert SlaSettings(event_months=24).event_months == 24 and SlaSettings().event_months == 0
