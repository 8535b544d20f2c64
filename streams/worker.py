"""The recording worker: a consumer-group loop around the pure stages and the PostGIS writer."""

import contextlib
import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from geo.locator import Locator
from streams import stages
from streams.kafka import admin_client, consumer
from streams.producer import BrokerDown, EventProducer
from streams.settings import KafkaSettings
from streams.topics import Topics
from streams.watch import Membership, forget, member_name, report
from streams.writer import write_events

log = logging.getLogger(__name__)
GROUP = "record"  # under the topic prefix: deployments sharing a broker never share a group


@dataclass
class Totals:
    """What a worker has done since it started."""

    batches: int = 0
    records: int = 0
    inserted: int = 0
    dead: int = 0

    def add(self, other: "Totals") -> None:
        """Count ``other`` in (done by the loop's thread only, so no update is lost)."""
        self.batches += other.batches
        self.records += other.records
        self.inserted += other.inserted
        self.dead += other.dead


def collect_rarely() -> None:
    """Run the collector's full pass a tenth as often, for a worker process.

    A worker keeps a few batches of objects alive at a time, and with Python's
    defaults each batch sets off a full pass over all of them: measured at ~9 µs
    of ~25 µs an event in decoding. Garbage cycles, which are rare here, wait
    longer to be freed. Called by the worker's command, not by ``Worker``, so
    processes that only embed a worker keep their own settings.
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 100)


class Worker:
    """Records raw events in batches.

    Each batch goes through, in this order:

    1. decode and validate every record; bad ones become dead letters with the reason;
    2. drop repeats of an id inside the batch;
    3. locate the whole batch in one call of the grid index;
    4. write events, and a case per new incident or request, to PostGIS in one transaction,
       idempotent on the event id (database commit);
    5. produce the located events and dead letters and wait for every ack (acks=all);
    6. commit the consumer offsets.

    A crash anywhere before step 6 replays the batch; step 4 makes the replay
    harmless. When PostgreSQL or the broker is away, the batch is retried from its
    first offsets until they come back, and offsets are not committed meanwhile.
    """

    def __init__(
        self,
        consumer: KafkaConsumer,
        producer: EventProducer,
        topics: Topics,
        engine: Engine,
        locator: Locator,
        *,
        batch_size: int = 2000,
        depth: int = 2,
        group_id: str = "",
        renew: Callable[[], KafkaConsumer] | None = None,
        reset_group: Callable[[], None] | None = None,
        rejoin_after_s: float = 12.0,
        member: str = "",
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.engine = engine
        self.locator = locator
        self.batch_size = batch_size
        self.depth = depth  # batches being written at once
        self.totals = Totals()
        self._backoff_s = 0.2
        self.group_id = group_id
        self._renew = renew
        self._reset_group = reset_group
        self.member = member or member_name("worker")
        self.membership = Membership(time.monotonic(), rejoin_after_s)
        self._reported = 0.0

    def run(self, stop: threading.Event) -> Totals:
        """Loop until ``stop`` is set; the batches in hand are finished first.

        Steps 1–3 of the next batch run here while writer threads do steps 4–5 of
        up to ``depth`` earlier batches, each on its own database connection, so
        PostgreSQL works on one batch while this thread decodes the next. Step 6
        happens here, oldest batch first, once its writer is done: offsets are only
        ever committed for batches that are in PostgreSQL and on the broker, and
        never past a batch that is not.
        """
        while not stop.is_set():  # the first index needs the database: wait for it
            try:
                self.locator.index()
                break
            except DBAPIError as exc:
                log.warning("cannot load the grid index yet (%s); retrying", exc)
                stop.wait(2)
        # The boundary index and libraries are long-lived: keep the collector off them.
        gc.freeze()
        in_flight: deque[tuple[list[stages.RawRecord], Future[Totals]]] = deque()
        try:
            with ThreadPoolExecutor(self.depth, thread_name_prefix="gridgov-record") as writers:
                while not stop.is_set():
                    polled = self.consumer.poll(timeout_ms=500, max_records=self.batch_size)
                    records = [
                        stages.RawRecord(tp.topic, tp.partition, m.offset, m.key, m.value)
                        for tp, messages in polled.items()
                        for m in messages
                    ]
                    self._watch(len(records), idle=not in_flight)
                    prepared = self._prepare(records) if records else None
                    if not self._retire(in_flight, records, stop, keep=self.depth - 1 if prepared else 0):
                        continue  # rewound: the next polls fetch these batches again
                    if prepared is not None:
                        in_flight.append((records, writers.submit(self._store, *prepared)))
                self._retire(in_flight, [], stop, keep=0)
        finally:
            self.close()
        return self.totals

    def _retire(
        self,
        in_flight: "deque[tuple[list[stages.RawRecord], Future[Totals]]]",
        records: list[stages.RawRecord],
        stop: threading.Event,
        *,
        keep: int,
    ) -> bool:
        """Commit finished batches oldest first, waiting until at most ``keep`` are in flight.

        With ``keep=0`` every batch in flight is waited for. On a failure, that batch,
        those after it and ``records`` are rewound (the later ones are waited for,
        not committed) and False is returned.
        """
        while in_flight and (len(in_flight) > keep or in_flight[0][1].done()):
            batch, future = in_flight.popleft()
            if not self._finish(batch, future, stop):
                wait([f for _, f in in_flight])  # their writes are idempotent; their offsets stay uncommitted
                self._rewind(batch + [r for b, _ in in_flight for r in b] + records)
                in_flight.clear()
                return False
        return True

    def process(self, records: list[stages.RawRecord]) -> None:
        """Steps 1–6 for one batch, in this thread (for tests and tools)."""
        self.totals.add(self._store(*self._prepare(records)))
        self._commit(records)

    def _prepare(
        self, records: list[stages.RawRecord]
    ) -> tuple[list[stages.LocatedEvent], list[stages.DeadLetter], int]:
        """Steps 1–3: decode and validate, drop repeats, locate."""
        decoded, dead = stages.decode(records)
        decoded, repeated = stages.dedupe(decoded)
        return stages.locate(decoded, self.locator.index()), dead + repeated, len(records)

    def _store(self, located: list[stages.LocatedEvent], dead: list[stages.DeadLetter], count: int) -> Totals:
        """Steps 4–5: database commit, then produce and wait for the broker."""
        written = write_events(self.engine, located)
        dead = dead + [
            stages.DeadLetter(
                f"event {c.event_id} was already recorded with different content",
                c.decoded.as_raw(self.topics.raw),
            )
            for c in written.conflicts
        ]
        conflicting = {c.uuid for c in written.conflicts}
        out = stages.located_messages([e for e in located if e.uuid not in conflicting], self.topics.located)
        out += [d.to_record(self.topics.dead) for d in dead]
        self.producer.publish(out)
        return Totals(1, count, written.inserted, len(dead))

    def _finish(self, records: list[stages.RawRecord], future: "Future[Totals]", stop: threading.Event) -> bool:
        """Wait for a batch's steps 4–5 and commit its offsets; on failure, back off and say so."""
        try:
            self.totals.add(future.result())
        except (DBAPIError, KafkaError, BrokerDown) as exc:
            # Keep polling (so the group keeps us) and fetch the same records again.
            log.warning("batch of %d failed (%s); retrying from its first offsets", len(records), exc)
            stop.wait(self._backoff_s)
            self._backoff_s = min(self._backoff_s * 2, 5.0)
            return False
        self._backoff_s = 0.2
        self._commit(records)
        self.membership.committed(time.monotonic())
        return True

    def _commit(self, records: list[stages.RawRecord]) -> None:
        """Step 6: commit the offsets just past this batch's records."""
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if tp not in offsets or offsets[tp].offset <= r.offset:
                offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
        try:
            self.consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance under way or done meanwhile (CommitFailedError, RebalanceInProgressError), or
            # the coordinator away: the batch is recorded, so whoever owns the partitions next replays
            # it harmlessly, and a later commit here covers it.
            log.warning("offsets of %d records not committed (%s); they may be replayed", len(records), exc)

    def _rewind(self, records: list[stages.RawRecord]) -> None:
        first: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            first[key] = min(first.get(key, r.offset), r.offset)
        assigned = self.consumer.assignment()
        for (topic, partition), offset in first.items():
            tp = TopicPartition(topic, partition)
            if tp in assigned:
                self.consumer.seek(tp, offset)

    def _watch(self, polled: int, *, idle: bool) -> None:
        """Note what the poll saw; each second say so in ``pipeline_member``; rejoin when stuck."""
        now = time.monotonic()
        coordinator = getattr(self.consumer, "_coordinator", None)  # kafka-python's: no public accessor
        stable = bool(coordinator is not None and coordinator.stable())
        owned = self.consumer.assignment()
        drained = idle and not polled and bool(owned) and self._drained(owned)
        self.membership.observe(now, owned=len(owned), stable=stable, drained=drained)
        if idle and self._renew is not None and self.membership.stuck(now):
            self._rejoin(now)
        if now - self._reported >= 1:
            self._reported = now
            try:
                report(self.engine, self.member, self.group_id, self.membership, self.totals.inserted)
            except DBAPIError as exc:
                log.info("worker status not written (%s)", type(exc).__name__)

    def _drained(self, owned: "set[TopicPartition]") -> bool:
        """Whether this consumer has read every record the broker holds on ``owned`` (as of its last fetch).

        A partition whose end the consumer does not know yet (no fetch answered since it was
        assigned) is not drained: an empty poll then says nothing about what waits.
        """
        for tp in owned:
            end = self.consumer.highwater(tp)
            if end is None:
                return False
            try:
                at = self.consumer.position(tp, timeout_ms=0)
            except KafkaError:
                return False
            if at is None or at < end:
                return False
        return True

    def _rejoin(self, now: float) -> None:
        """Replace a member stuck rejoining with a fresh one; with the local broker, delete the group first."""
        assert self._renew is not None
        waited = now - (self.membership.unowned_since or now)
        reset = self._reset_group  # the local broker: the group is recreated with its offsets
        log.warning(
            "no partitions for %.0f s in group %s (the coordinator keeps rebalancing); rejoining as a fresh member%s",
            waited,
            self.group_id,
            " after deleting the group (local broker)" if reset else "",
        )
        try:
            self.consumer.close(autocommit=False, timeout_ms=2000)
        except KafkaError as exc:
            log.info("stuck member did not leave cleanly: %s", exc)
        if reset is not None:
            reset()
        self.consumer = self._renew()
        self.membership.rejoined(time.monotonic())

    def close(self) -> None:
        """Leave the group and close the clients (a coordinator that does not answer is given 5 s)."""
        self.consumer.close(autocommit=False, timeout_ms=5000)
        self.producer.close()
        with contextlib.suppress(DBAPIError):  # if not, the row ages out: /health counts workers seen lately
            forget(self.engine, self.member)


def open_worker(
    settings: KafkaSettings,
    engine: Engine,
    locator: Locator,
    *,
    group_id: str | None = None,
    batch_size: int = 2000,
    depth: int = 2,
    client_id: str = "gridgov-worker",
    rejoin_after_s: float = 12.0,
) -> Worker:
    """A worker with its own consumer in the recording group and its own producer.

    A member stuck rejoining for ``rejoin_after_s`` is replaced by a fresh one; with the
    local broker the group itself is deleted first and its committed offsets written
    back (they are only ever past recorded events, so at worst a batch is replayed).
    """
    topics = Topics.from_prefix(settings.topic_prefix)
    group = group_id or settings.topic_prefix + GROUP

    def reader() -> KafkaConsumer:
        return consumer(
            settings,
            group,
            topics.raw,
            client_id=client_id,
            max_poll_records=batch_size,
            fetch_max_bytes=32 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=50,  # the broker answers a fetch at once or after this: bounds the latency
        )

    def reset_group() -> None:
        """Delete the group, then commit its offsets again: the new group starts where the old one was."""
        admin = admin_client(settings)
        try:
            kept = admin.list_group_offsets({group: None}).get(group, {})
            admin.delete_groups([group])
            if kept:  # committed by a consumer that assigns itself (Tansu refuses the admin's offset commit)
                writer = consumer(settings, group, client_id=client_id)
                writer.assign(list(kept))
                writer.commit(kept)
                writer.close(autocommit=False)
        except KafkaError as exc:
            log.warning("could not reset group %s: %s", group, exc)
        finally:
            admin.close()

    producer = EventProducer(settings, client_id=client_id, timeout_s=30, linger_ms=20, batch_size=512 * 1024)
    return Worker(
        reader(),
        producer,
        topics,
        engine,
        locator,
        batch_size=batch_size,
        depth=depth,
        group_id=group,
        renew=reader,
        reset_group=reset_group if settings.is_local else None,
        rejoin_after_s=rejoin_after_s,
        member=member_name(client_id),
    )
