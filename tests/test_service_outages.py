"""The real PostgreSQL and broker stopped and started again under load: nothing accepted is lost or doubled."""

import signal
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cli.local import broker, postgres
from streams.kafka import admin_client
from streams.topics import ensure_topics
from tests.conftest import SignIn
from tests.pipeline_fixtures import (
    Load,
    event_body,
    grid_point,
    quick_topics,
    rows_and_ids,
    start_worker,
    wait_recorded,
)


@pytest.fixture
def points(demo_city: Engine) -> list[tuple[float, float]]:
    return [grid_point(demo_city, i)[1:] for i in range(0, 330, 33)]


@pytest.fixture
def restored(base_settings: Settings, settings: Settings) -> Iterator[None]:
    """Whatever the test stops is running again afterwards, with this run's topics."""
    yield
    postgres.up(base_settings)
    if not broker.status(base_settings).healthy:
        broker.up(base_settings)
    admin = admin_client(settings.kafka)
    try:
        ensure_topics(admin, settings.kafka)  # the local broker keeps topics in memory only
    finally:
        admin.close()


def test_postgresql_stopped_under_load_gives_503_never_202_and_loses_and_doubles_nothing(
    base_settings: Settings,
    settings: Settings,
    demo_city: Engine,
    points: list[tuple[float, float]],
    sign_in: SignIn,
    restored: None,
) -> None:
    settings = quick_topics(settings)
    reporter = f"gw-pgdown-{uuid.uuid4().hex[:6]}"
    worker = start_worker(settings)
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))  # posts all over the district
        with Load(client, reporter, points) as load:
            load.wait_for(50)
            assert postgres.down(base_settings)
            time.sleep(0.5)  # a post under way as the server stopped may still be answered
            answered = len(load.statuses)
            while len(load.statuses) < answered + 20:
                time.sleep(0.05)
            outage_answers = set(load.statuses[answered:])  # no receipt can be committed: no 202
            assert postgres.up(base_settings).healthy
            load.wait_for(50)  # the same app, not restarted: it accepts again by itself
        assert client.get(f"/v1/events/{load.accepted[0]}").status_code in (200, 404)  # served again, not 500
    assert outage_answers == {503}, outage_answers
    try:
        found = wait_recorded(demo_city, load.accepted, timeout=120)
        assert worker.poll() is None, "the worker should have waited for the database, not exited"
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    assert set(found) == set(load.accepted)
    rows = rows_and_ids(demo_city, reporter)
    assert rows == (len(load.accepted), len(load.accepted))


def test_broker_stopped_gives_503_never_202_and_the_api_recovers_by_itself(
    base_settings: Settings, settings: Settings, demo_city: Engine, sign_in: SignIn, restored: None
) -> None:
    _, lon, lat = grid_point(demo_city, 5)
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in("gw-test", Role.DISTRICT, "321111"))
        assert client.post("/v1/events", json=event_body(lon, lat)).status_code == 202
        assert broker.down(base_settings)
        refused = []
        for _ in range(3):
            body = event_body(lon, lat)
            response = client.post("/v1/events", json=body)
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) > 0
            refused.append(body)
        assert client.get("/health").json()["broker"]["status"] == "down"

        broker.up(base_settings)
        admin = admin_client(settings.kafka)  # a real Kafka keeps its topics; the local broker must be told again
        try:
            ensure_topics(admin, settings.kafka)
        finally:
            admin.close()
        deadline = time.monotonic() + 60
        while True:  # the same app, not restarted: its producer reconnects
            response = client.post("/v1/events", json=refused[0])  # the phone retries the same event
            if response.status_code == 202 or time.monotonic() > deadline:
                break
            assert response.status_code == 503, response.text
            time.sleep(1)
        assert response.status_code == 202, response.text
        assert (h := client.get("/health")).status_code == 200, h.text
