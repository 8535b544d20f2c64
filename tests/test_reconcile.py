"""Accepted events survive a crash of the local broker: the receipts send them again, the topics come back."""

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cli.local import broker
from cli.local.process import port_open
from streams.kafka import admin_client
from streams.producer import EventProducer
from streams.receipts import claim
from streams.reconcile import Reconciler
from streams.schema import Event, Received
from streams.topics import Topics, create_topics, partitions_off
from streams.worker import GROUP
from tests.conftest import SignIn
from tests.pipeline_fixtures import (
    count_reported,
    event_body,
    grid_point,
    quick_topics,
    rows_and_ids,
    running_worker,
    start_worker,
    wait_recorded,
)

RECORDED_WITHIN_S = 60  # after the worker starts: the README states it for the defaults (30 s + a pass)


def receipts(engine: Engine, bodies: list[dict[str, object]]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM event_receipt WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": [b["id"] for b in bodies]},
            ).scalar_one()
        )


def kill_and_restart_broker(base_settings: Settings) -> None:
    """kill -9 of the local broker (its memory, topics and groups are gone), then a new one."""
    running = broker.pid(base_settings)
    assert running is not None
    os.kill(running, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while port_open("127.0.0.1", base_settings.kafka.local_broker_port) and time.monotonic() < deadline:
        time.sleep(0.1)  # the dying process lets go of its port
    assert broker.up(base_settings).healthy


@pytest.fixture
def broker_back(base_settings: Settings, settings: Settings) -> Iterator[None]:
    yield
    if not broker.status(base_settings).healthy:
        broker.up(base_settings)
    create_topics(settings.kafka)  # the session's topics, lost with the broker's memory


def test_a_broker_killed_with_500_accepted_events_waiting_loses_none_of_them(
    base_settings: Settings, settings: Settings, demo_city: Engine, sign_in: SignIn, broker_back: None
) -> None:
    settings = quick_topics(settings)
    reporter = f"gw-crash-{uuid.uuid4().hex[:6]}"
    _, lon, lat = grid_point(demo_city, 7)
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))  # posts all over the district
        bodies = [event_body(lon, lat, reporter=reporter) for _ in range(500)]
        for i in range(0, 500, 100):  # the worker is stopped: all 500 wait in the broker's memory
            assert client.post("/v1/events/batch", json={"events": bodies[i : i + 100]}).status_code == 202
        for body in bodies[:20]:
            assert client.post("/v1/events", json=body).status_code == 202  # single posts too (retries)

    kill_and_restart_broker(base_settings)

    env = {"GRIDGOV_RECONCILE_AFTER_S": "2", "GRIDGOV_RECONCILE_EVERY_S": "1"}
    worker = start_worker(settings, env)  # no manual step: it recreates the topics and sends the receipts again
    started = time.monotonic()
    try:
        while count_reported(demo_city, reporter) < 500 and time.monotonic() - started < RECORDED_WITHIN_S:
            time.sleep(0.5)
        took = time.monotonic() - started
        deadline = time.monotonic() + 15
        while receipts(demo_city, bodies) and time.monotonic() < deadline:  # the next passes drop them
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    log = stderr.decode()
    assert worker.returncode == 0, log[-2000:]
    rows = rows_and_ids(demo_city, reporter)
    assert rows == (500, 500), f"after {took:.0f} s: {rows}"
    assert "created them" in log  # the topics, recreated by the worker
    assert "accepted event(s) still unrecorded" in log and "s or more after they were received" in log
    assert receipts(demo_city, bodies) == 0  # a recorded event's receipt is dropped


def test_a_broker_killed_under_a_running_worker_loses_nothing_accepted_before_or_after(
    base_settings: Settings, settings: Settings, demo_city: Engine, sign_in: SignIn, broker_back: None
) -> None:
    settings = quick_topics(settings)
    reporter = f"gw-crash2-{uuid.uuid4().hex[:6]}"
    _, lon, lat = grid_point(demo_city, 8)
    env = {"GRIDGOV_RECONCILE_AFTER_S": "2", "GRIDGOV_RECONCILE_EVERY_S": "1"}
    worker = start_worker(settings, env)
    accepted: list[str] = []
    try:
        with TestClient(create_app(settings)) as client:
            client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))  # posts all over the district
            before = [event_body(lon, lat, reporter=reporter) for _ in range(200)]
            assert client.post("/v1/events/batch", json={"events": before}).status_code == 202
            accepted += [b["id"] for b in before]
            kill_and_restart_broker(base_settings)
            deadline = time.monotonic() + 60
            body = event_body(lon, lat, reporter=reporter)
            while len(accepted) < 400 and time.monotonic() < deadline:
                if client.post("/v1/events", json=body).status_code == 202:
                    accepted.append(body["id"])
                    body = event_body(lon, lat, reporter=reporter)
                else:  # a phone retries the same event until it is accepted (a 503 may have kept its receipt)
                    time.sleep(0.2)
        deadline = time.monotonic() + RECORDED_WITHIN_S
        while count_reported(demo_city, reporter) < len(accepted) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    # The worker itself made the lost topics again (nobody ran `gridgov services up`) with their partitions;
    # those the clients in use asked for first the broker made itself, with 4 (streams.topics.partitions_off).
    log = stderr.decode()
    assert "the broker had lost topics" in log, log[-2000:]
    admin = admin_client(settings.kafka)
    try:
        off = partitions_off(admin, settings.kafka)
        assert Topics.from_prefix(settings.kafka.topic_prefix).escalations not in off  # nobody asks for it but us
        assert set(off.values()) <= {4}, off
        assert all(f"topic {name} came back with 4 partitions" in log for name in off), log[-2000:]
    finally:
        admin.close()
    assert len(accepted) == 400
    rows = rows_and_ids(demo_city, reporter)
    assert rows == (400, 400)


def test_events_waiting_behind_a_stalled_group_are_not_sent_again_and_those_the_broker_lost_are(
    settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    """The fault run's pile-on: a stalled group's events were sent again though they were only waiting."""
    with demo_city.begin() as conn:  # the reconciler reads every receipt of the database: this test's only
        conn.execute(text("DELETE FROM event_receipt"))
    settings = quick_topics(settings)
    reporter = f"gw-held-{uuid.uuid4().hex[:6]}"
    _, lon, lat = grid_point(demo_city, 9)
    waiting = [event_body(lon, lat, reporter=reporter) for _ in range(20)]
    with TestClient(create_app(settings)) as client:  # no worker: the group is stalled
        client.headers.update(sign_in(reporter, Role.DISTRICT, "321111"))
        assert client.post("/v1/events/batch", json={"events": waiting}).status_code == 202
    lost = [
        Received.stamp(Event.model_validate_json(json.dumps(event_body(lon, lat, reporter=reporter)))) for _ in range(5)
    ]
    claim(demo_city, lost, [r.to_bytes() for r in lost], durable=True)  # receipts whose records the broker lost
    producer = EventProducer(settings.kafka)
    reconciler = Reconciler(settings.kafka, demo_city, producer, after_s=0.5, every_s=1)
    try:
        time.sleep(1)
        assert reconciler.once().resent == 0  # 20 records written before the cutoff are unread: hold
        with running_worker(settings, demo_city, settings.kafka.topic_prefix + GROUP):
            assert len(wait_recorded(demo_city, [b["id"] for b in waiting])) == 20
            time.sleep(1)  # the receipts of the lost ones are now older than the cutoff, and the group read past it
            assert reconciler.once().resent == 5  # only the lost ones
            ids = [b["id"] for b in waiting] + [str(r.event.id) for r in lost]
            assert len(wait_recorded(demo_city, ids)) == 25
    finally:
        reconciler.close()
        producer.close()
    assert rows_and_ids(demo_city, reporter) == (25, 25)
