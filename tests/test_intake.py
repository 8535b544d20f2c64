"""Posts arriving together are stored together: one receipt statement and one produce per group."""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, OperationalError

from api.errors import Refusal
from api.intake import Intake, Post
from api.settings import Settings
from db.engine import make_engine
from streams.producer import EventProducer, Message
from streams.receipts import HeldClaims, claim
from streams.schema import Event, Received
from streams.topics import Topics
from tests.pipeline_fixtures import event_body, grid_point


@pytest.fixture(autouse=True)
def forget_receipts(demo_city: Engine) -> Iterator[None]:
    """These events are never recorded (no worker runs here): their receipts must not make later tests stale."""
    yield
    with demo_city.begin() as conn:
        conn.execute(text("DELETE FROM event_receipt WHERE reporter IN ('gw-group', 'gw-nodb', 'gw-async', 'gw-held')"))


class CountingIntake(Intake):
    """The real intake, counting the groups it stores."""

    groups: list[int]

    def _claim(self, group: list[Post]) -> list[Message]:
        self.groups.append(len(group))
        return super()._claim(group)


def test_concurrent_posts_go_in_groups_and_a_changed_resend_in_the_same_group_is_refused(
    settings: Settings, demo_city: Engine
) -> None:
    _, lon, lat = grid_point(demo_city, 4)
    now = datetime.now(UTC)
    events = [
        Event.model_validate_json(json.dumps(event_body(lon, lat, reporter="gw-group")), context={"now": now})
        for _ in range(60)
    ]
    changed = events[0].model_copy(update={"description": "changed"})  # after its original's group
    changed_alongside = events[5].model_copy(update={"description": "changed"})  # in its original's group
    producer = EventProducer(settings.kafka)
    intake = CountingIntake(demo_city, producer, Topics.from_prefix(settings.kafka.topic_prefix), durable=True)
    intake.groups = []

    async def post_all() -> list[object]:
        posts = [intake.accept([e]) for e in events]
        posts += [intake.accept([changed]), intake.accept([events[1]]), intake.accept([changed_alongside])]
        return await asyncio.gather(*posts, return_exceptions=True)

    try:
        answers = asyncio.run(post_all())
    finally:
        producer.close()
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert len(refused) == 2 and all(isinstance(r, Refusal) and r.kind == "conflict" for r in refused), (
        refused
    )  # not the repeat
    assert answers[60] is refused[0] and answers[62] is refused[1]
    assert sum(intake.groups) == 63 and len(intake.groups) < 63 // 2, intake.groups  # the first alone, then together
    with demo_city.connect() as conn:
        rows = conn.execute(
            text("SELECT id::text, reporter, payload FROM event_receipt WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": [str(e.id) for e in events]},
        ).all()
    assert len(rows) == 60
    for row in rows:  # each receipt holds the message that went to the topic, as the reconciler would resend it
        held = Received.model_validate_json(bytes(row.payload))
        assert str(held.event.id) == row.id and row.reporter == "gw-group"
        assert held.content_hash == held.event.content_hash()


def test_with_the_database_unreachable_the_local_default_refuses_and_a_replicated_kafka_accepts(
    settings: Settings, demo_city: Engine
) -> None:
    """The README's table: no receipt, no 202 with the local broker; the replicated log alone holds it."""
    unreachable = make_engine(settings.database.url.replace(f":{settings.database.local_pg_port}/", ":1/"))
    _, lon, lat = grid_point(demo_city, 4)
    event = Event.model_validate_json(
        json.dumps(event_body(lon, lat, reporter="gw-nodb")), context={"now": datetime.now(UTC)}
    )
    producer = EventProducer(settings.kafka)
    topics = Topics.from_prefix(settings.kafka.topic_prefix)
    try:
        local = Intake(unreachable, producer, topics, durable=True)
        with pytest.raises(OperationalError):  # the API's error table answers it 503 with Retry-After
            asyncio.run(local.accept([event]))
        replicated = Intake(unreachable, producer, topics, durable=False)
        accepted = asyncio.run(replicated.accept([event]))
    finally:
        producer.close()
        unreachable.dispose()
    assert accepted.accepted == [event.id]


def test_a_receipt_without_the_wait_for_the_disk_is_stored_and_checked_the_same(demo_city: Engine) -> None:
    """The replicated setting's receipt: same statement, asynchronous commit."""
    _, lon, lat = grid_point(demo_city, 6)
    now = datetime.now(UTC)
    event = Event.model_validate_json(json.dumps(event_body(lon, lat, reporter="gw-async")), context={"now": now})
    first = Received.stamp(event, now)
    assert claim(demo_city, [first], [first.to_bytes()], durable=False) == set()
    changed = Received.stamp(event.model_copy(update={"description": "changed"}), now)
    assert claim(demo_city, [changed], [changed.to_bytes()], durable=False) == {str(event.id)}
    with demo_city.connect() as conn:
        held = conn.execute(text("SELECT payload FROM event_receipt WHERE id = :id"), {"id": event.id}).scalar_one()
    assert bytes(held) == first.to_bytes()


def test_the_held_connection_claims_as_the_pool_does_and_outlives_a_dropped_connection_and_a_bad_statement(
    demo_city: Engine,
) -> None:
    """The intake's claims keep one connection: the server dropping it, or a statement it refuses, costs no post."""
    _, lon, lat = grid_point(demo_city, 6)
    now = datetime.now(UTC)

    def received(description: str = "") -> Received:
        body = event_body(lon, lat, reporter="gw-held", description=description)
        return Received.stamp(Event.model_validate_json(json.dumps(body), context={"now": now}), now)

    claims = HeldClaims(demo_city)
    try:
        first, second = received(), received()
        assert claims([first], [first.to_bytes()], durable=True) == set()
        changed = Received.stamp(first.event.model_copy(update={"description": "changed"}), now)
        assert claims([changed], [changed.to_bytes()], durable=True) == {str(first.event.id)}  # as claim() says
        assert claim(demo_city, [changed], [changed.to_bytes()], durable=True) == {str(first.event.id)}
        pid = claims._held.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        with demo_city.begin() as conn:  # the server ends the held connection (a restart, an administrator)
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        assert claims([second], [second.to_bytes()], durable=False) == set()  # claimed on a new connection
        bad = received().model_copy(update={"content_hash": "f" * 65})  # longer than the column holds
        with pytest.raises(DataError):  # the statement refused: SQLAlchemy's error, as from the pool
            claims([bad], [bad.to_bytes()], durable=True)
        third = received()
        assert claims([third], [third.to_bytes()], durable=True) == set()  # the connection after the error is usable
        held = demo_city.pool.checkedout()  # type: ignore[attr-defined]
    finally:
        claims.close()
    assert demo_city.pool.checkedout() == held - 1  # type: ignore[attr-defined]  # given back
    with demo_city.connect() as conn:
        held = conn.execute(
            text("SELECT count(*) FROM event_receipt WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": [str(r.event.id) for r in (first, second, bad, third)]},
        ).scalar_one()
    assert held == 3  # first, second and third; the refused statement stored nothing
