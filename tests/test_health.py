"""``GET /health`` reports both services."""

import dataclasses

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from streams.producer import Recent


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


def test_an_up_broker_check_is_reused_for_a_second_and_a_down_one_never() -> None:
    now = [100.0]
    answers = iter([(True, "3 topics"), (False, "NoBrokersAvailable"), (True, "3 topics")])
    calls: list[float] = []

    def check() -> tuple[bool, str]:
        calls.append(now[0])
        return next(answers)

    status = Recent(check, ttl_s=1.0, clock=lambda: now[0])
    assert status() == (True, "3 topics")
    now[0] += 0.5
    assert status() == (True, "3 topics")  # reused
    now[0] += 0.75
    assert status() == (False, "NoBrokersAvailable")  # over a second: asked again
    assert status() == (True, "3 topics")  # down is asked again at once
    assert len(calls) == 3
