"""A producer that either gets the broker's acknowledgement or says the broker is down."""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

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
        # Within /health's wait (0.8 s): a broker that does not answer is told as such, not as a hung check.
        self._status = Recent(lambda: broker_status(settings, timeout_ms=700), ttl_s=1.0)

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
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

    def publish(self, records: list[Message]) -> None:
        """Send ``records`` and return only once the broker has acknowledged every one."""
        client = self._get()
        deadline = time.monotonic() + self._timeout_s
        try:
            partitioners = {t: self._partitioner(client, t) for t in {r.topic for r in records}}
            futures = [
                client.send(r.topic, key=r.key, value=r.value, partition=partitioners[r.topic](r.key)) for r in records
            ]
            # No flush: it would also wait for other threads' records. Each future is
            # acknowledged once its batch is sent (after linger_ms at most).
            for future in futures:
                future.get(timeout=max(0.1, deadline - time.monotonic()))
        except KafkaError as exc:
            # The client may be stuck in a fatal state (an idempotent producer whose id the broker
            # forgot in a restart): the next publish starts a new one.
            self._discard(client)
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

    def check(self) -> tuple[bool, str]:
        """Whether the broker answers (as of at most a second ago)."""
        return self._status()

    def close(self) -> None:
        """Flush what is pending and close the connection."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
