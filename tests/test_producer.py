"""The producer puts a partition's records in kafka-python's queue as batches of its own (streams.producer.enqueue),
which the client's sender thread sends: every record published is on its key's partition once, in order."""

import asyncio
import selectors
import socket
import time
from collections import defaultdict

import pytest
from kafka import KafkaConsumer
from kafka.partitioner.default import murmur2
from kafka.structs import TopicPartition

from streams.kafka import QuietSelector, connection_config, producer
from streams.producer import EventProducer, Message, enqueue, queue_open
from streams.settings import KafkaSettings
from tests.pipeline_fixtures import new_topic

PARTITIONS = 3


def _read(kafka: KafkaSettings, topic: str, n: int) -> dict[int, list[tuple[bytes, bytes]]]:
    """The first ``n`` records of ``topic``, by partition, in their order there."""
    reader = KafkaConsumer(**connection_config(kafka, "batches-test"), enable_auto_commit=False)
    reader.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    reader.seek_to_beginning()
    found: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    deadline = time.monotonic() + 30
    while sum(map(len, found.values())) < n and time.monotonic() < deadline:
        for tp, records in reader.poll(timeout_ms=200).items():
            found[tp.partition].extend((r.key, r.value) for r in records)
    reader.close()
    return found


def test_records_published_in_batches_arrive_once_each_on_their_key_s_partition_in_order(
    kafka_settings: KafkaSettings,
) -> None:
    """300 records of 600 bytes under 7 keys, published in two calls by a producer whose batches hold 4 KiB:
    many batches a partition, each record once, on the partition of its key, in the order published."""
    topic = new_topic(kafka_settings, PARTITIONS, "batches")
    publisher = EventProducer(kafka_settings, client_id="batches-test", batch_size=4096)
    keys = [f"gw-{n % 7}".encode() for n in range(300)]
    records = [Message(topic, key, f"{n:04d}".encode().ljust(600, b".")) for n, key in enumerate(keys)]
    publisher.publish(records[:150])
    publisher.publish(records[150:])
    publisher.close()
    found = _read(kafka_settings, topic, 300)
    numbered = sorted(value[:4] for part in found.values() for _, value in part)
    assert numbered == [f"{n:04d}".encode() for n in range(300)]
    for partition, part in found.items():
        assert all((murmur2(key) & 0x7FFFFFFF) % PARTITIONS == partition for key, _ in part)
        numbers = [int(value[:4]) for _, value in part]
        assert numbers == sorted(numbers)  # in the order published


def test_the_installed_client_has_the_queue_the_batches_go_to(kafka_settings: KafkaSettings) -> None:
    """Else every record would go by send(), slower but the same: this says the batches are in use. Twenty records
    of 600 bytes in batches of 4 KiB: four batches (six records fit in one), all acknowledged."""
    topic = new_topic(kafka_settings, PARTITIONS, "batches")
    client = producer(kafka_settings, "batches-test", batch_size=4096)
    try:
        assert queue_open(client)
        client.partitions_for(topic)
        batches = enqueue(client, TopicPartition(topic, 0), [Message(topic, b"k", b"." * 600)] * 20)
        client._sender.wakeup()
        assert [batch.record_count for batch in batches] == [6, 6, 6, 2]
        assert all(batch.produce_future.wait(10) and batch.produce_future.exception is None for batch in batches)
    finally:
        client.close()
    assert len(_read(kafka_settings, topic, 20)[0]) == 20


def test_records_delivered_from_the_event_loop_arrive_once_each_in_order(kafka_settings: KafkaSettings) -> None:
    """``deliver``: the first call connects in a thread, the next ones queue on the loop and await the acks there."""
    topic = new_topic(kafka_settings, PARTITIONS, "deliver")
    publisher = EventProducer(kafka_settings, client_id="deliver-test")
    records = [Message(topic, b"gw-1", f"{n:04d}".encode()) for n in range(60)]

    async def deliver_all() -> None:
        for start in range(0, 60, 20):
            await publisher.deliver(records[start : start + 20])

    try:
        asyncio.run(deliver_all())
    finally:
        publisher.close()
    found = _read(kafka_settings, topic, 60)
    assert [value for part in found.values() for _, value in part] == [f"{n:04d}".encode() for n in range(60)]


def test_the_quiet_selector_answers_as_the_standard_one() -> None:
    """A socket's key by the socket or its number; KeyError when not registered; a closed socket found as ever."""
    selector, (one, other) = QuietSelector(), socket.socketpair()
    with pytest.raises(KeyError):
        selector.get_key(one)
    selector.register(one, selectors.EVENT_READ, "reader")
    assert selector.get_key(one).data == selector.get_key(one.fileno()).data == "reader"
    one.close()
    assert selector.get_key(one).data == "reader"
    selector.unregister(one)
    assert not selector.get_map()
    other.close()
    selector.close()
    with pytest.raises(RuntimeError):
        selector.get_key(other)
