"""The consumer-group jam of the fault run: two workers, one killed again and again, then one worker alone.

The fault run saw the group rebalance forever after this, with nothing recorded and
``/health`` saying ok. Here the pipeline must record every accepted event within 60 s
of the last kill, and ``/health`` must have shown the stall while it lasted.
"""

import dataclasses
import random
import signal
import subprocess
import threading
import time
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import Load, grid_point, quick_topics, rows_and_ids, start_worker, wait_recorded

KILLS = 10
RECORDED_WITHIN_S = 60


class HealthWatch:
    """Reads ``/health`` twice a second in a thread; keeps every pipeline status seen."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.seen.append(self.client.get("/health").json()["pipeline"]["status"])

    def __enter__(self) -> "HealthWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_worker_killed_ten_times_then_one_worker_alone_records_everything_and_health_showed_the_stall(
    settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    with demo_city.begin() as conn:  # /health's oldest unrecorded event is the database's: this test's only
        conn.execute(text("DELETE FROM event_receipt"))
    settings = quick_topics(settings)
    pipeline = settings.pipeline.model_copy(update={"pipeline_degraded_after_s": 3.0})
    settings = dataclasses.replace(settings, pipeline=pipeline)
    env = {"GRIDGOV_WORKER_REJOIN_AFTER_S": "10"}
    reporter = f"gw-jam-{uuid.uuid4().hex[:6]}"
    points = [grid_point(demo_city, i)[1:] for i in range(0, 100, 10)]
    rng = random.Random(3)
    a, b = start_worker(settings, env), start_worker(settings, env)
    workers: list[subprocess.Popen[bytes]] = [a, b]
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))  # posts all over the district
        with Load(client, reporter, points) as load, HealthWatch(client) as health:
            load.wait_for(50)
            for _ in range(KILLS):
                b.send_signal(signal.SIGKILL)
                b.wait()
                b = start_worker(settings, env)
                workers.append(b)
                time.sleep(rng.uniform(0.5, 3.0))
            for worker in (a, b):  # then one worker alone, a fresh process
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            last_kill = time.monotonic()
            alone = start_worker(settings, env)
            workers.append(alone)
            load.wait_for(50)
        try:
            found = wait_recorded(demo_city, load.accepted, timeout=RECORDED_WITHIN_S)
            took = time.monotonic() - last_kill
            assert len(found) == len(set(load.accepted)), f"{len(found)} of {len(load.accepted)} in {took:.0f} s"
            assert took <= RECORDED_WITHIN_S
            deadline = time.monotonic() + 30  # the replays of the killed members' batches commit their offsets
            while (healthy_again := client.get("/health").json()["pipeline"])["status"] != "ok":
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
                    worker.communicate(timeout=60)
    assert "degraded" in health.seen, health.seen  # the stall showed while it lasted
    assert healthy_again["status"] == "ok", healthy_again
    rows = rows_and_ids(demo_city, reporter)
    assert rows == (len(set(load.accepted)),) * 2
