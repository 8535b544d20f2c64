"""The real services: a consumer group shares partitions, offsets resume, PostGIS answers."""

import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import TopicPartition
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.settings import Settings
from cli.local.process import read_pid
from cli.main import app
from streams.kafka import consumer, producer
from streams.settings import KafkaSettings
from tests.pipeline_fixtures import new_topic


def _produce(kafka: KafkaSettings, topic: str, values: list[str]) -> None:
    client = producer(kafka)
    for value in values:
        client.send(topic, key=value.encode(), value=value.encode())
    client.flush()
    client.close()


def test_two_members_of_one_group_split_the_partitions(kafka_settings: KafkaSettings) -> None:
    topic = new_topic(kafka_settings)
    group = f"g-{uuid.uuid4().hex[:6]}"
    values = [f"event-{i}" for i in range(120)]
    received: dict[int, list[str]] = {0: [], 1: []}
    assigned: dict[int, set[int]] = {0: set(), 1: set()}
    done = threading.Event()

    def member(index: int) -> None:
        client = consumer(kafka_settings, group, topic, client_id=f"member-{index}")
        try:
            while not done.is_set():
                for tp, records in client.poll(timeout_ms=200).items():
                    received[index].extend(r.value.decode() for r in records)
                    assigned[index].add(tp.partition)
                client.commit()
                if len(received[0]) + len(received[1]) >= len(values):
                    done.set()
        finally:
            client.close()

    threads = [threading.Thread(target=member, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    # Produce only once both members are in the group, so each owns part of the topic.
    time.sleep(kafka_settings.kafka_session_timeout_ms / 1000 * 1.5)
    _produce(kafka_settings, topic, values)
    done.wait(timeout=60)
    done.set()
    for t in threads:
        t.join(timeout=30)

    assert sorted(received[0] + received[1]) == sorted(values)
    assert received[0] and received[1], "both members should have received records"
    assert not assigned[0] & assigned[1], "a partition must belong to one member only"


def test_a_resumed_consumer_continues_from_its_committed_offset(kafka_settings: KafkaSettings) -> None:
    topic = new_topic(kafka_settings, partitions=1)
    group = f"g-{uuid.uuid4().hex[:6]}"
    _produce(kafka_settings, topic, [f"a{i}" for i in range(10)])

    first = consumer(kafka_settings, group, topic, max_poll_records=4)
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while len(seen) < 4 and time.monotonic() < deadline:
        for records in first.poll(timeout_ms=200, max_records=4).values():
            seen.extend(r.value.decode() for r in records)
    first.commit()
    first.close()
    assert seen == ["a0", "a1", "a2", "a3"]

    second = consumer(kafka_settings, group, topic)
    rest: list[str] = []
    deadline = time.monotonic() + 30
    while len(rest) < 6 and time.monotonic() < deadline:
        for records in second.poll(timeout_ms=200).values():
            rest.extend(r.value.decode() for r in records)
    committed = second.committed(TopicPartition(topic, 0))
    second.close()
    assert rest == [f"a{i}" for i in range(4, 10)]
    assert committed == 4


def test_postgis_contains_in_the_test_database(engine: Engine) -> None:
    with engine.connect() as conn:
        inside, outside = conn.execute(
            text(
                "SELECT ST_Contains(g, ST_SetSRID(ST_MakePoint(119.45, 32.2), 4326)),"
                " ST_Contains(g, ST_SetSRID(ST_MakePoint(118.0, 32.2), 4326))"
                " FROM (SELECT ST_MakeEnvelope(119.4, 32.1, 119.5, 32.3, 4326) AS g) AS box"
            )
        ).one()
    assert inside is True
    assert outside is False


def test_a_stale_pid_file_is_ignored_and_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dead = tmp_path / "dead.pid"
    dead.write_text("999999999\n")
    assert read_pid(dead, "tansu") is None
    assert not dead.exists()

    import os

    reused = tmp_path / "reused.pid"  # a live pid that is not the broker (pid reuse after kill -9)
    reused.write_text(f"{os.getpid()}\n")
    assert read_pid(reused, "tansu-not-this") is None


def test_the_local_services_name_their_processes(base_settings: Settings) -> None:
    """The benchmarks read these processes' CPU time."""
    from cli.local import broker, postgres

    found = {name: service.pid(base_settings) for name, service in (("postgres", postgres), ("tansu", broker))}
    for hint, pid in found.items():
        assert pid is not None, f"no {hint} process"
        assert hint in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def test_topics_create_says_what_it_created_and_then_that_all_exist(
    kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"tc{uuid.uuid4().hex[:6]}."
    monkeypatch.setenv("GRIDGOV_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("GRIDGOV_KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    first = CliRunner().invoke(app, ["topics", "create"])
    names = [f"{prefix}{t}" for t in ("events.raw", "events.located", "events.dead")]
    assert first.exit_code == 0 and all(n in first.output for n in names), first.output
    assert "none" not in first.output
    again = CliRunner().invoke(app, ["topics", "create"], env={"GRIDGOV_LANG": "en"})
    assert again.exit_code == 0 and "created: none; all 5 topics exist" in again.output, again.output
