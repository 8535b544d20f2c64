"""One worker in a crash loop (killed every 3 s, restarted at once): ``/health`` says degraded within 35 s.

A worker restarted every 3 s never gets partitions (a dead leader holds the group for a
session: tests/faults/test_broker_groups.py), so nothing is recorded from the first kill.
Each restart's status row starts "not yet progressing", so the stall shows once the group
has made no progress for ``GRIDGOV_PIPELINE_DEGRADED_AFTER_S`` (30 s) with records waiting.
"""

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
from cli.local.scratch import fresh_topics
from tests.conftest import SignIn
from tests.pipeline_fixtures import Load, grid_point, rows_and_ids, start_worker, wait_recorded

DEGRADED_WITHIN_S = 35
LOOP_S = 45


def test_a_worker_killed_every_3_s_shows_as_degraded_within_35_s_and_a_steady_one_then_records_all(
    settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    with demo_city.begin() as conn:  # /health's oldest unrecorded event is the database's: this test's only
        conn.execute(text("DELETE FROM event_receipt"))
    here = fresh_topics(settings, "c")  # the default session, heartbeat and thresholds
    assert here.pipeline.pipeline_degraded_after_s <= 30
    reporter = f"gw-loop-{uuid.uuid4().hex[:6]}"
    points = [grid_point(demo_city, i)[1:] for i in range(0, 100, 10)]
    workers: list[subprocess.Popen[bytes]] = [start_worker(here)]
    seen: list[tuple[float, str]] = []
    stop = threading.Event()
    try:
        with TestClient(create_app(here)) as client:
            client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))

            def watch() -> None:
                while not stop.wait(0.5):
                    seen.append((time.monotonic(), client.get("/health").json()["pipeline"]["status"]))

            with Load(client, reporter, points) as load:
                load.wait_for(50)
                assert wait_recorded(demo_city, list(load.accepted), timeout=60)  # the worker records
                watcher = threading.Thread(target=watch)
                watcher.start()
                time.sleep(2)
                first_kill = time.monotonic()
                while time.monotonic() - first_kill < LOOP_S:
                    workers[-1].send_signal(signal.SIGKILL)
                    workers[-1].wait()
                    workers.append(start_worker(here))
                    time.sleep(3)
                stop.set()
                watcher.join()
                workers.append(start_worker(here))  # one that lives
                load.wait_for(20)
            found = wait_recorded(demo_city, load.accepted, timeout=90)
            assert len(found) == len(set(load.accepted))
    finally:
        stop.set()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.communicate(timeout=60)
    before = [status for at, status in seen if at < first_kill]
    assert before and set(before) == {"ok"}, before  # the stall, not old receipts, makes it degraded
    flagged = next((at - first_kill for at, status in seen if at >= first_kill and status != "ok"), None)
    print(f"crash loop: /health said degraded {flagged:.1f} s after the first kill" if flagged else "never flagged")
    assert flagged is not None and flagged <= DEGRADED_WITHIN_S, seen
    assert rows_and_ids(demo_city, reporter) == (len(set(load.accepted)),) * 2
