"""A producer that either gets the broker's acknowledgement or says the broker is down."""

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import IllegalStateError, KafkaError, KafkaTimeoutError
from kafka.partitioner.default import murmur2
from kafka.producer.producer_batch import ProducerBatch
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.structs import TopicPartition

from streams.kafka import broker_status, producer
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)


class BrokerDown(Exception):
    """The broker did not acknowledge in time; the records may not have been kept."""


@dataclass(frozen=True)
class Message:
    """One message to produce."""

    topic: str
    key: bytes | None
    value: bytes


class Recent:
    """A check whose "up" answer is reused for ``ttl_s`` seconds; callers meanwhile wait for the one running.

    The broker check opens a client of its own (~170 ms of CPU here) and ``/health`` is open to
    anyone: without this, a probe a second from each of a few screens would take a core. A "down"
    answer is not reused, so a recovery shows at the next call.
    """

    def __init__(
        self, check: Callable[[], tuple[bool, str]], ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._up: tuple[float, str] | None = None  # when the check last said up, and what it said

    def __call__(self) -> tuple[bool, str]:
        """Whether it is up, and what the check said."""
        with self._lock:
            if self._up is not None and self._clock() - self._up[0] < self._ttl_s:
                return True, self._up[1]
            up, detail = self._check()
            self._up = (self._clock(), detail) if up else None
            return up, detail


# The parts of kafka-python's producer ``enqueue`` uses (its queue of batches, as ``send()`` fills it in
# RecordAccumulator.append). A client without them sends every record by ``send()``;
# ``tests/test_producer.py`` checks the installed one has them.
QUEUE_PARTS = ("_tp_lock", "_batches", "_incomplete", "_closed", "config")


def queue_open(client: KafkaProducer) -> bool:
    """Whether ``client`` has the queue ``enqueue`` fills, and the sender thread that empties it."""
    accumulator = getattr(client, "_accumulator", None)
    return hasattr(client, "_sender") and all(hasattr(accumulator, name) for name in QUEUE_PARTS)


def enqueue(client: KafkaProducer, tp: TopicPartition, records: list[Message]) -> list[ProducerBatch]:
    """Put ``records`` of one partition in ``client``'s queue as batches of their own, in order; the batches.

    ``send()`` spends some 30 µs of Python a record (its checks, a future per record, a lock each);
    this builds each batch in one pass, a few µs a record, under the partition's lock, as ``send()``
    adds a batch. The sender thread then drains, sends, retries and expires them as any other,
    and completes each batch's ``produce_future``.
    """
    accumulator = client._accumulator
    config = accumulator.config
    now = time.monotonic()
    batches: list[ProducerBatch] = []
    with accumulator._tp_lock(tp):
        if accumulator._closed:
            raise IllegalStateError("RecordAccumulator is closed")
        for record in records:
            appended = batches[-1].records.append(None, record.key, record.value, []) if batches else None
            if appended is None:
                builder = MemoryRecordsBuilder(
                    config["message_version"], config["compression_attrs"], config["batch_size"]
                )
                batches.append(ProducerBatch(tp, builder, now=now))
                appended = builder.append(None, record.key, record.value, [])
            batches[-1].max_record_size = max(batches[-1].max_record_size, appended.size)
        for batch in batches:
            accumulator._batches[tp].append(batch)
            accumulator._incomplete.add(batch)
    return batches


def _settle(loop: asyncio.AbstractEventLoop, ack: "asyncio.Future[None]", _: object) -> None:
    """Wake ``loop`` from the sender thread: a batch is acknowledged or failed (its future says which)."""
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
        loop.call_soon_threadsafe(_done, ack)


def _done(ack: "asyncio.Future[None]") -> None:
    if not ack.done():  # not cancelled meanwhile
        ack.set_result(None)


class EventProducer:
    """Publishes records and waits for acks=all; connects lazily and reconnects after failure."""

    def __init__(
        self, settings: KafkaSettings, client_id: str = "gridgov-api", timeout_s: float = 6.0, **options: Any
    ) -> None:
        self._options = options
        self._settings = settings
        self._client_id = client_id
        self._timeout_s = timeout_s
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._failed: tuple[float, str] | None = None  # when the last attempt to connect failed, and why
        # Within /health's wait (0.8 s): a broker that does not answer is told as such, not as a hung check.
        self._status = Recent(lambda: broker_status(settings, timeout_ms=700), ttl_s=1.0)

    def _get(self) -> KafkaProducer:
        """The connected client; callers that waited while another's attempt to connect failed share its answer.

        Without that, each waiting caller would try again in turn, a bootstrap timeout each (the start-up's
        ``prepare`` and the first posts, or many posts while the broker is away), and be answered "slow".
        """
        asked = time.monotonic()
        with self._lock:
            if self._producer is None:
                if self._failed is not None and self._failed[0] >= asked:
                    raise BrokerDown(self._failed[1])
                try:
                    self._producer = producer(
                        self._settings,
                        self._client_id,
                        request_timeout_ms=int(self._timeout_s * 1000 / 2),
                        delivery_timeout_ms=int(self._timeout_s * 1000),
                        max_block_ms=int(self._timeout_s * 1000 / 2),
                        bootstrap_timeout_ms=int(self._timeout_s * 1000 / 2),
                        **self._options,
                    )
                except KafkaError as exc:
                    self._failed = (time.monotonic(), type(exc).__name__)
                    raise BrokerDown(type(exc).__name__) from exc
            return self._producer

    def _partitioner(self, client: KafkaProducer, topic: str) -> Callable[[bytes | None], int | None]:
        """Kafka's default key partitioning (murmur2), memoised: a batch repeats few keys."""
        partitions = sorted(client.partitions_for(topic) or [])
        memo: dict[bytes, int] = {}

        def partition(key: bytes | None) -> int | None:
            if key is None or not partitions:
                return None
            found = memo.get(key)
            if found is None:
                found = memo[key] = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
            return found

        return partition

    def _queue(self, client: KafkaProducer, records: list[Message]) -> tuple[list[ProducerBatch], list[Any]]:
        """Put ``records`` in ``client``'s queue; the batches, and the futures of the records sent alone.

        A partition's records go as batches (``enqueue``), which the sender thread sends, retries and
        expires as it does the batches ``send()`` fills; a record whose partition is not known yet goes
        by ``send()``.
        """
        partitioners = {t: self._partitioner(client, t) for t in {r.topic for r in records}}
        grouped: dict[TopicPartition, list[Message]] = defaultdict(list)
        queued = queue_open(client)
        futures = []
        for r in records:
            partition = partitioners[r.topic](r.key)
            if partition is None or not queued:
                futures.append(client.send(r.topic, key=r.key, value=r.value, partition=partition))
            else:
                grouped[TopicPartition(r.topic, partition)].append(r)
        batches = [batch for tp, group in grouped.items() for batch in enqueue(client, tp, group)]
        if batches:
            client._sender.wakeup()
        return batches, futures

    def publish(self, records: list[Message]) -> None:
        """Send ``records`` and return only once the broker has acknowledged every one (see ``_queue``)."""
        client = self._get()
        deadline = time.monotonic() + self._timeout_s
        try:
            batches, futures = self._queue(client, records)
            # No flush: it would also wait for other threads' records. Each batch is
            # acknowledged once sent (after linger_ms at most).
            for batch in batches:
                if not batch.produce_future.wait(max(0.1, deadline - time.monotonic())):
                    raise KafkaTimeoutError(
                        f"batch of {batch.record_count} to {batch.topic_partition} not acknowledged"
                    )
                if batch.produce_future.exception is not None:
                    raise batch.produce_future.exception
            for future in futures:
                future.get(timeout=max(0.1, deadline - time.monotonic()))
        except KafkaError as exc:
            # The client may be stuck in a fatal state (an idempotent producer whose id the broker
            # forgot in a restart): the next publish starts a new one.
            self._discard(client)
            raise BrokerDown(type(exc).__name__) from exc

    async def deliver(self, records: list[Message]) -> None:
        """``publish`` from the event loop, which waits for no thread of its own.

        Once connected and with every topic's partitions known, the records are queued here and
        the sender thread's acknowledgement of each batch wakes the loop; until then (connecting,
        the first metadata: either may block) ``publish`` runs in the threadpool.
        """
        client = self._producer
        if (
            client is None
            or not queue_open(client)
            or any(client._metadata.partitions_for_topic(topic) is None for topic in {r.topic for r in records})
        ):
            await asyncio.to_thread(self.publish, records)
            return
        loop = asyncio.get_running_loop()
        try:
            batches, _ = self._queue(client, records)  # every partition is known: no record by send()
            acks = [loop.create_future() for _ in batches]
            for batch, ack in zip(batches, acks, strict=True):
                batch.produce_future.add_both(_settle, loop, ack)
            try:
                async with asyncio.timeout(self._timeout_s):
                    await asyncio.gather(*acks)
            except TimeoutError:
                raise KafkaTimeoutError(f"{len(batches)} batches not acknowledged") from None
            for batch in batches:
                if batch.produce_future.exception is not None:
                    raise batch.produce_future.exception
        except KafkaError as exc:
            self._discard(client)  # as in publish
            raise BrokerDown(type(exc).__name__) from exc

    def _discard(self, client: KafkaProducer) -> None:
        with self._lock:
            if id(self._producer) != id(client):
                return  # another thread replaced it already
            self._producer = None
        try:
            client.close(timeout=0)  # its unsent records are failed: their callers have answered 503
        except KafkaError as exc:
            log.info("discarded producer did not close cleanly: %s", exc)

    def prepare(self, topics: list[str]) -> None:
        """Connect and learn ``topics``' partitions now: the first records sent then wait for neither."""
        client = self._get()
        try:
            for topic in topics:
                client.partitions_for(topic)
        except KafkaError as exc:
            raise BrokerDown(type(exc).__name__) from exc

    def check(self) -> tuple[bool, str]:
        """Whether the broker answers (as of at most a second ago)."""
        return self._status()

    def close(self) -> None:
        """Flush what is pending and close the connection."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
