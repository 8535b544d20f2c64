"""Phone → API → Kafka → worker → PostGIS, on the real broker and database."""

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from geo.crs import from_wgs84
from streams.kafka import consumer, producer
from streams.topics import Topics
from streams.worker import Worker
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, event_body, grid_point, recorded, running_worker, wait_recorded


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        client.headers.update(sign_in("gw-test", Role.DISTRICT, "321111"))
        yield client


@pytest.fixture(scope="module")
def worker(settings: Settings, demo_city: Engine) -> Iterator[Worker]:
    with running_worker(settings, demo_city, "test-pipeline") as worker:
        yield worker


def test_a_posted_event_is_recorded_in_its_grid_and_opens_a_case(
    client: TestClient, worker: Worker, demo_city: Engine
) -> None:
    code, lon, lat = grid_point(demo_city, 5)
    body = event_body(lon, lat)
    response = client.post("/v1/events", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == [body["id"]]
    row = wait_recorded(demo_city, [body["id"]])[body["id"]]
    assert (row["grid_code"], row["community_code"], row["street_code"], row["district_code"]) == (
        code,
        code[:12],
        code[:9],
        code[:6],
    )
    assert row["locate_method"] == "inside"
    with demo_city.connect() as conn:
        case = conn.execute(
            text('SELECT state, level, grid_code, sla_class FROM "case" WHERE id = :id'), {"id": body["id"]}
        ).one()
    assert tuple(case) == ("reported", "grid", code, "minor")


def test_a_gcj02_event_is_located_after_conversion(client: TestClient, worker: Worker, demo_city: Engine) -> None:
    code, lon, lat = grid_point(demo_city, 40)
    gcj_lon, gcj_lat = from_wgs84(lon, lat, "gcj02")
    body = event_body(gcj_lon, gcj_lat, crs="gcj02", kind="patrol", category="9001")
    assert client.post("/v1/events", json=body).status_code == 202
    assert wait_recorded(demo_city, [body["id"]])[body["id"]]["grid_code"] == code


def test_retries_give_one_row_and_changed_content_is_409(client: TestClient, worker: Worker, demo_city: Engine) -> None:
    _, lon, lat = grid_point(demo_city, 7)
    body = event_body(lon, lat)
    for _ in range(3):
        assert client.post("/v1/events", json=body).status_code == 202
    assert client.post("/v1/events/batch", json={"events": [body, body]}).status_code == 202
    wait_recorded(demo_city, [body["id"]])
    changed = body | {"description": "另一个描述"}
    response = client.post("/v1/events", json=changed)
    assert response.status_code == 409
    assert response.json()["detail"] == [body["id"]]
    other = event_body(lon, lat)
    response = client.post("/v1/events/batch", json={"events": [other, other | {"category": "0103"}]})
    assert response.status_code == 409
    time.sleep(1)
    with demo_city.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM event WHERE id = :id"), {"id": body["id"]}).scalar_one()
    assert count == 1


def test_a_poison_record_goes_to_the_dead_letter_topic_and_the_worker_goes_on(
    settings: Settings, client: TestClient, worker: Worker, demo_city: Engine
) -> None:
    topics = Topics.from_prefix(settings.kafka.topic_prefix)
    raw = producer(settings.kafka)
    raw.send(topics.raw, key=b"x", value=b"{not json")
    raw.flush()
    raw.close()
    _, lon, lat = grid_point(demo_city, 9)
    body = event_body(lon, lat)
    assert client.post("/v1/events", json=body).status_code == 202
    assert body["id"] in wait_recorded(demo_city, [body["id"]])
    dead = consumer(settings.kafka, "test-dead-reader", topics.dead)
    letters: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while not any(letter["original_b64"] == "e25vdCBqc29u" for letter in letters) and time.monotonic() < deadline:
        for records in dead.poll(timeout_ms=300).values():
            letters += [json.loads(r.value) for r in records]
    dead.close()
    (poison,) = [letter for letter in letters if letter["original_b64"] == "e25vdCBqc29u"]
    assert "invalid event" in str(poison["reason"])
    assert poison["source_topic"] == topics.raw
    assert isinstance(poison["source_offset"], int)


def test_the_broker_away_gives_503_with_retry_after_never_202(
    settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    kafka = settings.kafka.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    with TestClient(create_app(dataclasses.replace(settings, kafka=kafka)), headers=ENGLISH) as away:
        away.headers.update(sign_in("gw-test", Role.DISTRICT, "321111"))
        _, lon, lat = grid_point(demo_city, 3)
        body = event_body(lon, lat)
        response = away.post("/v1/events", json=body)
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        assert "retry" in response.json()["message"].lower()
    assert recorded(demo_city, [body["id"]]) == {}
