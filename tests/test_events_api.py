"""Input limits and validation of the events API (answered before anything is produced)."""

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, event_body, grid_point


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    # No broker: anything that passes validation would be a 503, never a 202.
    kafka = settings.kafka.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    with TestClient(create_app(dataclasses.replace(settings, kafka=kafka)), headers=ENGLISH) as client:
        client.headers.update(sign_in("gw-test", Role.DISTRICT, "321111"))
        yield client


def _with(path: str, value: object) -> dict[str, object]:
    body = event_body(119.43, 32.2)
    target = body
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("location.lat", 91.0, "location.lat", "less than or equal to 90"),
        ("location.lon", -181.0, "location.lon", "greater than or equal to -180"),
        ("location.lon", True, "location.lon", "valid number"),
        ("location.lat", "32.2", "location.lat", "valid number"),
        ("location.crs", "utm50", "location.crs", "wgs84"),
        ("category", "9999", "category", "unknown category"),
        ("kind", "complaint", "kind", "incident"),
        ("occurred_at", timedelta(minutes=10), "occurred_at", "future"),  # from the moment it is sent
        ("occurred_at", -timedelta(days=31), "occurred_at", "30 days"),
        ("occurred_at", "2026-11-21T09:30:00", "occurred_at", "timezone"),
        ("description", "长" * 2001, "description", "at most 2000"),
        ("description", "NUL\x00", "description", "control characters"),
        ("reporter", "gw\ntest", "reporter", "control characters"),
        ("id", "not-a-uuid", "id", "UUID"),
        ("location.accuracy_m", -1, "location.accuracy_m", "greater than or equal to 0"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    client: TestClient, path: str, value: object, field: str, words: str
) -> None:
    if isinstance(value, timedelta):  # a moment is taken when the test runs, not when the suite was collected
        value = (datetime.now(UTC) + value).isoformat()
    response = client.post("/v1/events", json=_with(path, value))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(d["field"] == field and words.lower() in d["problem"].lower() for d in detail), detail


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_422(client: TestClient, literal: str) -> None:
    body = _with("location.lat", 0.0)
    raw = json.dumps(body).replace('"lat": 0.0', f'"lat": {literal}')
    response = client.post("/v1/events", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == "location.lat"


def test_a_body_over_the_limit_is_413(client: TestClient) -> None:
    body = _with("description", "x" * 40_000)
    response = client.post("/v1/events", json=body)
    assert response.status_code == 413
    assert "limit" in response.json()["message"]


def test_a_batch_over_500_events_is_413_and_an_empty_one_422(client: TestClient) -> None:
    events = [event_body(119.43, 32.2) for _ in range(501)]
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 413
    assert "500" in response.json()["message"]
    assert client.post("/v1/events/batch", json={"events": []}).status_code == 422


def test_a_bad_event_in_a_batch_names_its_position(client: TestClient) -> None:
    events = [event_body(119.43, 32.2) for _ in range(3)]
    events[2]["location"]["lat"] = 100.0
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events.2.location.lat"


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/events", content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


def test_a_valid_event_without_broker_is_503(client: TestClient) -> None:
    response = client.post("/v1/events", json=event_body(119.43, 32.2))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]


@pytest.mark.parametrize("version", [{"schema_version": 1}, {}])
def test_an_event_with_the_old_codes_is_refused_naming_the_new_one(client: TestClient, version: dict[str, int]) -> None:
    body = {k: v for k, v in event_body(119.43, 32.2).items() if k != "schema_version"} | version
    body["category"] = "0101"  # 暴露垃圾 before CJ/T 214's codes; 0101 is now 私搭乱建
    response = client.post("/v1/events", json=body)
    assert response.status_code == 422
    assert "category 0101 is now 0102 (暴露垃圾)" in response.json()["message"]
    assert "send schema_version 2" in response.json()["message"]


def test_a_gridworker_reporting_from_another_grid_is_told_the_nearest_grid(
    client: TestClient, sign_in: SignIn, demo_city: Engine
) -> None:
    here, lon, lat = grid_point(demo_city, 0)
    mine, _, _ = grid_point(demo_city, 40)
    worker = sign_in("gw-elsewhere", Role.GRIDWORKER, mine)
    client.app.state.locator.refresh()  # the demo city may have been loaded after the app's first look
    body = event_body(lon, lat, reporter="gw-elsewhere")
    single = client.post("/v1/events", json=body, headers=worker)
    assert single.status_code == 422, single.text
    (problem,) = single.json()["detail"]
    assert problem["field"] == "location" and problem["nearest_grid"] == here and problem["nearest_m"] == 0
    assert f"outside your grid {mine}" in single.json()["message"]
    batch = client.post("/v1/events/batch", json={"events": [body]}, headers=worker)
    assert batch.status_code == 422 and batch.json()["detail"][0]["field"] == "events.0.location"
    with demo_city.connect() as conn:  # refused before anything was held
        assert (
            conn.execute(text("SELECT count(*) FROM event_receipt WHERE id = :id"), {"id": body["id"]}).scalar_one()
            == 0
        )


def test_district_staff_reporting_outside_every_district_are_refused_one_or_in_a_batch(
    client: TestClient, demo_city: Engine
) -> None:
    client.app.state.locator.refresh()
    _, lon, lat = grid_point(demo_city, 0)
    inside = event_body(lon, lat, reporter="gw-test")
    beijing = event_body(116.40, 39.90, reporter="gw-test")  # no district of the platform
    single = client.post("/v1/events", json=beijing)
    assert single.status_code == 422, single.text
    assert "outside the area this platform serves" in single.json()["message"]
    assert [p["field"] for p in single.json()["detail"]] == ["location"]
    batch = client.post("/v1/events/batch", json={"events": [inside, beijing]})
    assert batch.status_code == 422 and [p["field"] for p in batch.json()["detail"]] == ["events.1.location"]
    with demo_city.connect() as conn:  # nothing of either was held
        held = conn.execute(
            text("SELECT count(*) FROM event_receipt WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": [inside["id"], beijing["id"]]},
        ).scalar_one()
    assert held == 0
