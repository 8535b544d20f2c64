"""``GET /metrics`` after a known load: accepted, refused by reason, recorded, dead letters, lag, latency."""

import subprocess
import sys
import time

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point, quick_topics, running_worker, wait_recorded, worker_env


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def lag(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(v for (name, _), v in scraped.items() if name == "gridgov_consumer_lag")


def test_metrics_hold_the_pipeline_counters_after_a_known_load(
    settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    settings = quick_topics(settings)
    _, lon, lat = grid_point(demo_city, 3)
    with demo_city.begin() as conn:  # the oldest unrecorded age is the database's: of this test's events only
        conn.execute(text("DELETE FROM event_receipt"))
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in("gw-metrics", Role.DISTRICT, "321111"))  # posts all over the district
        before = scrape(client)
        good = [event_body(lon, lat, reporter="gw-metrics") for _ in range(7)]
        for body in good[:4]:
            assert client.post("/v1/events", json=body).status_code == 202
        assert client.post("/v1/events/batch", json={"events": good[4:]}).status_code == 202
        assert client.post("/v1/events", json=good[0]).status_code == 202  # a retry: accepted again, recorded once
        invalid = event_body(lon, lat, reporter="gw-metrics", category="9999")
        assert client.post("/v1/events", json=invalid).status_code == 422
        assert client.post("/v1/events", json={**good[1], "description": "changed"}).status_code == 409
        assert client.post("/v1/events", json=event_body(lon, lat, reporter="someone-else")).status_code == 403

        with running_worker(settings, demo_city, settings.kafka.topic_prefix + "record"):
            assert len(wait_recorded(demo_city, [b["id"] for b in good])) == 7
            deadline = time.monotonic() + 30
            while lag(after := scrape(client)) and time.monotonic() < deadline:  # offsets commit after the rows
                time.sleep(0.5)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("gridgov_events_accepted_total") == 8  # 4 singles, a batch of 3, the retry
    assert delta("gridgov_posts_refused_total", reason="invalid_input") == 1
    assert delta("gridgov_posts_refused_total", reason="conflict") == 1
    assert delta("gridgov_posts_refused_total", reason="forbidden") == 1
    assert delta("gridgov_events_recorded_total") == 7  # the database's counter: this run's database only
    assert delta("gridgov_dead_letters_total") == 0
    assert lag(after) == 0
    assert after[("gridgov_oldest_unrecorded_seconds", ())] == 0
    assert ("gridgov_escalations_total", ()) in after
    posts = delta("gridgov_http_request_duration_seconds_count", method="POST", route="/v1/events", status="202")
    assert posts == 5


def test_two_api_processes_count_into_one_metrics_page(settings: Settings, demo_city: Engine, sign_in: SignIn) -> None:
    """``gridgov api --workers 2``: whichever process answers the scrape counts the posts both took."""
    _, lon, lat = grid_point(demo_city, 5)
    headers = sign_in("gw-metrics2", Role.DISTRICT, "321111")  # posts all over the district
    port = 18_781
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "api", "--workers", "2", "--port", str(port)],
        env=worker_env(settings)
        | {"GRIDGOV_SECRET_KEY": settings.api.secret_key, "GRIDGOV_EVENT_POSTS_PER_MINUTE": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.3)
        for _ in range(12):  # new connections: the kernel spreads them over both processes
            body = event_body(lon, lat, reporter="gw-metrics2")
            assert httpx.post(f"{base}/v1/events", json=body, headers=headers).status_code == 202
        counts = set()
        for _ in range(6):
            families = text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
            counts |= {s.value for f in families for s in f.samples if s.name == "gridgov_events_accepted_total"}
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert counts == {12.0}, counts
