"""A database or a broker that hangs (SIGSTOP: connections stay open, nothing answers), at the default bounds.

Posts are answered 503 with Retry-After within 2 s, ``/health`` within 1 s saying failing,
``/metrics`` within 1 s; once the part resumes (SIGCONT) the refused posts, sent again with
the same ids, are taken, and everything accepted is recorded once.
"""

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cli.local import broker, postgres
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point, quick_topics, rows_and_ids, start_worker, wait_recorded

HUNG_S = 8
POST_WITHIN_S = 2.0
HEALTH_WITHIN_S = 1.0


def _cluster(settings: Settings) -> list[int]:
    """Every process of the local PostgreSQL cluster: the postmaster and its children."""
    main = postgres.pid(settings)
    assert main is not None, "the local cluster is not running"
    children = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True).stdout.split()
    return [main, *map(int, children)]


def _broker(settings: Settings) -> list[int]:
    found = broker.pid(settings)
    assert found is not None, "the local broker is not running"
    return [found]


@contextmanager
def hung(pids: list[int]) -> Iterator[None]:
    """The processes stopped (SIGSTOP) for the block, resumed (SIGCONT) after it whatever happens."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def timed(call: Any) -> tuple[Any, float]:
    start = time.monotonic()
    answer = call()
    return answer, time.monotonic() - start


@pytest.mark.parametrize("part", ["database", "broker"])
def test_a_hung_part_gets_quick_503s_a_quick_failing_health_and_loses_nothing(
    part: str, settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    settings = quick_topics(settings)
    assert settings.api.post_timeout_s <= POST_WITHIN_S, "run at the default bounds (make faults)"
    reporter = f"gw-hung-{uuid.uuid4().hex[:6]}"
    _, lon, lat = grid_point(demo_city, 17)
    worker = start_worker(settings)
    accepted: list[str] = []
    refused: list[dict[str, Any]] = []
    waits: list[float] = []
    try:
        with TestClient(create_app(settings)) as client:
            client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))
            first = event_body(lon, lat, reporter=reporter)
            assert client.post("/v1/events", json=first).status_code == 202
            accepted.append(first["id"])
            pids = _cluster(settings) if part == "database" else _broker(settings)
            with hung(pids):
                stopped = time.monotonic()
                while time.monotonic() - stopped < HUNG_S - 2:
                    body = event_body(lon, lat, reporter=reporter)
                    response, took = timed(lambda b=body: client.post("/v1/events", json=b))
                    assert response.status_code == 503, response.text
                    assert int(response.headers["retry-after"]) > 0
                    assert took <= POST_WITHIN_S, f"a post waited {took:.2f} s"
                    refused.append(body)
                    waits.append(took)
                health, took = timed(lambda: client.get("/health"))
                assert took <= HEALTH_WITHIN_S, f"/health took {took:.2f} s"
                print(f"{part} hung: {len(waits)} posts answered 503 in {min(waits):.2f}–{max(waits):.2f} s,")
                print(f"  /health {health.status_code} in {took:.2f} s: {health.json()[part]}")
                told = client.post("/v1/events", json=event_body(lon, lat, reporter=reporter)).json()["message"]
                print(f"  a refusal says: {told}")
                assert health.status_code == 503 and health.json()["status"] == "failing", health.text
                assert health.json()[part]["status"] == "down", health.text
                metrics, took = timed(lambda: client.get("/metrics"))
                assert metrics.status_code == 200 and took <= HEALTH_WITHIN_S, f"/metrics took {took:.2f} s"
                print(f"  /metrics 200 in {took:.2f} s")
                time.sleep(max(0.0, HUNG_S - (time.monotonic() - stopped)))
            deadline = time.monotonic() + 60
            for body in refused:  # the phone sends them again, same ids, until taken
                while (response := client.post("/v1/events", json=body)).status_code != 202:
                    assert response.status_code == 503 and time.monotonic() < deadline, response.text
                    time.sleep(0.5)
                accepted.append(body["id"])
            assert len(refused) >= 3
            found = wait_recorded(demo_city, accepted, timeout=60)
            assert len(found) == len(accepted)
            assert client.get("/health").json()[part]["status"] == "up"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    assert rows_and_ids(demo_city, reporter) == (len(accepted),) * 2
