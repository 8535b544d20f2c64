"""Workers under faults: kill -9 mid-batch, and two workers sharing a group."""

import json
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from geo.locator import Locator
from streams import stages
from streams.kafka import consumer, producer
from streams.schema import Event, Received
from streams.topics import Topics
from streams.worker import open_worker
from tests.conftest import SignIn
from tests.pipeline_fixtures import count_reported, event_body, grid_point, quick_topics, start_worker, wait_recorded


@pytest.fixture
def points(demo_city: Engine) -> list[tuple[float, float]]:
    return [grid_point(demo_city, i)[1:] for i in range(0, 330, 11)]


def test_kill_9_mid_batch_twelve_times_loses_and_duplicates_nothing(
    settings: Settings, demo_city: Engine, points: list[tuple[float, float]], sign_in: SignIn
) -> None:
    settings = quick_topics(settings)
    reporter = f"gw-fault-{uuid.uuid4().hex[:6]}"
    accepted: list[str] = []
    stop_load = threading.Event()

    def load(client: TestClient) -> None:
        rng = random.Random(1)
        while not stop_load.is_set():
            events = [event_body(*rng.choice(points), reporter=reporter) for _ in range(10)]
            response = client.post("/v1/events/batch", json={"events": events})
            if response.status_code == 202:
                accepted.extend(response.json()["accepted"])
            time.sleep(0.02)

    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))  # posts all over the district
        loader = threading.Thread(target=load, args=(client,))
        loader.start()
        rng = random.Random(7)
        try:
            for _ in range(12):
                before = count_reported(demo_city, reporter)
                worker = start_worker(settings)
                deadline = time.monotonic() + 60
                # Kill only once this worker is writing, so the kill lands in the middle of its batches.
                while count_reported(demo_city, reporter) == before and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 0.4))
                worker.kill()  # SIGKILL: no cleanup, no offset commit
                worker.wait()
        finally:
            stop_load.set()
            loader.join()
    assert len(accepted) > 1000
    during = count_reported(demo_city, reporter)
    assert 0 < during <= len(accepted), "the killed workers should have recorded part of the load"

    final = start_worker(settings)
    try:
        found = wait_recorded(demo_city, [str(i) for i in accepted], timeout=180)
    finally:
        final.send_signal(signal.SIGTERM)
        _, stderr = final.communicate(timeout=60)
    assert final.returncode == 0, stderr.decode()[-2000:]
    assert set(found) == {str(i) for i in accepted}
    with demo_city.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*), count(DISTINCT id) FROM event WHERE reporter = :r"), {"r": reporter}
        ).one()
        cases = conn.execute(
            text('SELECT count(*) FROM "case" c JOIN event e ON e.id = c.id WHERE e.reporter = :r'), {"r": reporter}
        ).scalar_one()
    assert tuple(rows) == (len(accepted), len(accepted))
    assert cases == len(accepted)  # every load event is an incident: one case each


def _received(points: list[tuple[float, float]], n: int, reporter: str) -> list[Received]:
    rng = random.Random(3)
    now = datetime.now(UTC)
    return [
        Received.stamp(Event.model_validate_json(json.dumps(event_body(*rng.choice(points), reporter=reporter))), now)
        for _ in range(n)
    ]


@pytest.fixture
def two_worker_settings(settings: Settings) -> Iterator[Settings]:
    yield quick_topics(settings)


def test_two_workers_in_one_group_share_the_work_with_the_same_result_as_one(
    two_worker_settings: Settings, demo_city: Engine, points: list[tuple[float, float]]
) -> None:
    settings = two_worker_settings
    topics = Topics.from_prefix(settings.kafka.topic_prefix)
    reporter = f"gw-pair-{uuid.uuid4().hex[:6]}"
    events = _received(points, 3000, reporter)
    stop = threading.Event()
    workers = [
        open_worker(
            settings.kafka, demo_city, Locator(demo_city), group_id="pair", batch_size=200, client_id=f"pair-{i}"
        )
        for i in range(2)
    ]
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for t in threads:
        t.start()
    time.sleep(settings.kafka.kafka_session_timeout_ms / 1000 * 1.5)  # both in the group
    raw = producer(settings.kafka)
    for r in events:
        raw.send(topics.raw, key=str(r.event.id).encode(), value=r.to_bytes())
    raw.flush()
    raw.close()
    ids = [str(r.event.id) for r in events]
    found = wait_recorded(demo_city, ids, timeout=120)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(found) == len(ids)
    assert all(w.totals.records > 0 for w in workers), [w.totals for w in workers]
    assert sum(w.totals.inserted for w in workers) == len(ids)
    # The same events located by one process in one call give the same grids.
    alone = stages.locate([stages.Decoded(r, 0, i) for i, r in enumerate(events)], Locator(demo_city).index())
    assert {e.event_id: e.grid for e in alone} == {i: found[i]["grid_code"] for i in ids}


def _poll_until_assigned(client: KafkaConsumer) -> None:
    while not client.assignment():
        client.poll(timeout_ms=100)


def test_a_commit_refused_during_a_rebalance_leaves_the_worker_running(
    settings: Settings, demo_city: Engine, points: list[tuple[float, float]], caplog: pytest.LogCaptureFixture
) -> None:
    """A member joins while a batch is written and the worker is rejoining, held by a member that has
    not rejoined yet: the commit is refused, the batch stays recorded (the partition's next owner
    replays it, harmlessly) and the worker goes on."""
    kafka = quick_topics(settings, session_ms=12_000, heartbeat_ms=500).kafka
    raw_topic, group = Topics.from_prefix(kafka.topic_prefix).raw, kafka.topic_prefix + "rebalancing"
    worker = open_worker(kafka, demo_city, Locator(demo_city), group_id=group, client_id="worker")
    other = consumer(kafka, group, raw_topic, client_id="other")
    joining = consumer(kafka, group, raw_topic, client_id="joining")
    joined = threading.Thread(target=joining.poll, kwargs={"timeout_ms": 15_000})
    reporter = f"gw-rebalance-{uuid.uuid4().hex[:6]}"
    events = _received(points, 50, reporter)
    records = [stages.RawRecord(raw_topic, 0, i, None, r.to_bytes()) for i, r in enumerate(events)]
    try:
        # Both join one generation: each needs its own thread, as the broker holds a join for the others.
        others_join = threading.Thread(target=_poll_until_assigned, args=(other,))
        others_join.start()
        _poll_until_assigned(worker.consumer)
        others_join.join()
        joined.start()
        time.sleep(2)  # the members' heartbeats now say the group is rebalancing
        worker.consumer.poll(timeout_ms=0)  # the worker rejoins; the broker holds it until "other" does
        worker.process(records)
    finally:
        worker.close()
        other.close()
        joined.join(timeout=30)
        joining.close()
    refused = [r.getMessage() for r in caplog.records if r.name == "streams.worker"]
    # Usually the broker answers RebalanceInProgressError (the worker's own rejoin is under way); when the
    # rejoin has already reset the generation it answers CommitFailedError. Either is a refused commit that
    # the worker must survive (1 run in about 9 here saw the second).
    assert any(
        "50 records not committed" in m and ("RebalanceInProgressError" in m or "CommitFailedError" in m)
        for m in refused
    ), refused
    assert worker.totals.inserted == len(events)
    assert count_reported(demo_city, reporter) == len(events)


def test_a_worker_stuck_rejoining_resets_the_group_with_a_fresh_member_and_records_everything(
    settings: Settings, demo_city: Engine
) -> None:
    """A member that joined and froze before SyncGroup jams the group until its session ends (40 s here).

    (Tansu answers that member's own JoinGroup after about half its session, 20 s.) The
    worker, without partitions for longer than its bound (8 s here), deletes the group
    (local broker) and rejoins as a fresh member: it records everything well before the
    frozen member's session would have ended.
    """
    kafka = quick_topics(settings).kafka
    group = kafka.topic_prefix + "record"
    worker = open_worker(kafka, demo_city, Locator(demo_city), group_id=group, rejoin_after_s=8.0)
    frozen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.frozen_member",
            kafka.bootstrap_servers,
            group,
            kafka.topic_prefix + "events.raw",
        ],
        stdout=subprocess.PIPE,
    )
    raw = Topics.from_prefix(kafka.topic_prefix).raw
    client = producer(kafka)
    old = _received([grid_point(demo_city, 2)[1:]], 10, "gw-stuck-old")
    for r in old:  # already handled: the group's offsets are past them, and must stay so through the reset
        client.send(raw, key=b"gw-stuck-old", value=r.to_bytes(), partition=0)
    client.flush()
    done = consumer(kafka, group, client_id="offsets")
    done.assign([TopicPartition(raw, 0)])
    done.commit({TopicPartition(raw, 0): OffsetAndMetadata(10, "", -1)})
    done.close(autocommit=False)
    try:
        assert frozen.stdout is not None and frozen.stdout.readline().startswith(b"joined")
        received = _received([grid_point(demo_city, 2)[1:]], 20, "gw-stuck")
        for r in received:
            client.send(raw, key=b"gw-stuck", value=r.to_bytes())
        client.flush()
        client.close()
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        started = time.monotonic()
        thread.start()
        found = wait_recorded(demo_city, [str(r.event.id) for r in received], timeout=40)
        took = time.monotonic() - started
        stop.set()
        thread.join(timeout=30)
    finally:
        frozen.kill()
        frozen.wait()
    assert len(found) == 20, f"{len(found)} of 20 recorded in {took:.0f} s"
    assert took < 30  # the frozen member's session (40 s from its join) had not ended: the worker got out by itself
    assert worker.membership.rejoins >= 1
    assert count_reported(demo_city, "gw-stuck-old") == 0  # the new group started at the old one's offsets
