"""``GET /health`` reports both services."""

import dataclasses

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings


def test_health_reports_both_services_up(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "up"
    assert body["broker"]["status"] == "up"


def test_health_is_503_when_the_broker_is_unreachable(settings: Settings) -> None:
    kafka = settings.kafka.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    broken = dataclasses.replace(settings, kafka=kafka)
    with TestClient(create_app(broken)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["broker"]["status"] == "down"
    assert response.json()["database"]["status"] == "up"
