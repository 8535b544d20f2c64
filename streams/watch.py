"""The pipeline watching itself: each worker's membership, the group's lag, and how fresh the records are.

``Membership`` (pure) follows one worker's consumer: whether it owns partitions, when
it last recorded a batch or had nothing left to read, and when it has been rejoining for
too long. ``judge`` (pure) turns the pipeline's figures into ok, degraded or failing;
``read_past`` (pure) says whether the group has read everything written before a moment. The rest reads the figures
from PostgreSQL (``pipeline_member``, ``event_receipt``) and from the broker.
"""

import contextlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import KafkaError
from sqlalchemy import Connection, Engine, text

from streams.kafka import admin_client
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)
Verdict = Literal["ok", "degraded", "failing"]


@dataclass
class Membership:
    """One worker's view of its group, fed after every poll (monotonic seconds).

    Progress is records written: ``progress`` is when the last batch was committed (None
    until one is). ``caught_up`` is when a poll last found nothing left to read on every
    partition the worker owns, with nothing in hand: then nothing waits for it. A worker
    that starts, or polls empty while records wait, has neither.
    """

    started: float
    rejoin_after_s: float
    owned: int = 0
    stable: bool = False
    progress: float | None = None
    caught_up: float | None = None
    unowned_since: float | None = None
    rejoins: int = 0

    def __post_init__(self) -> None:
        self.unowned_since = self.started

    def observe(self, now: float, *, owned: int, stable: bool, drained: bool) -> None:
        """After a poll: ``owned`` partitions, the coordinator's state, and whether nothing was left to read."""
        self.owned, self.stable = owned, stable
        if owned or stable:
            self.unowned_since = None
            if owned and drained:
                self.caught_up = now
        elif self.unowned_since is None:
            self.unowned_since = now

    def committed(self, now: float) -> None:
        """A batch is recorded and its offsets committed."""
        self.progress = now

    @property
    def state(self) -> str:
        """``owning``, ``idle`` (in a stable group, no partitions to spare) or ``rejoining``."""
        return "owning" if self.owned else "idle" if self.stable else "rejoining"

    def stuck(self, now: float) -> bool:
        """Whether it has been rejoining for longer than the bound."""
        return self.unowned_since is not None and now - self.unowned_since > self.rejoin_after_s

    def rejoined(self, now: float) -> None:
        """A fresh member replaces the stuck one: its bound starts again."""
        self.rejoins += 1
        self.unowned_since = now


@dataclass(frozen=True)
class Freshness:
    """How far behind the pipeline is (seconds; None when nothing is waiting or known)."""

    oldest_unrecorded_s: float | None
    since_progress_s: float | None
    lag: dict[int, int]
    members: int

    @property
    def total_lag(self) -> int:
        """Records waiting in the raw topic, all partitions."""
        return sum(self.lag.values())


def judge(fresh: Freshness, degraded_after_s: float, failing_after_s: float) -> tuple[Verdict, str]:
    """ok, degraded or failing, and why.

    The age that counts is the oldest accepted event still unrecorded and, while records
    wait in the raw topic, the time since the group last made progress. An idle pipeline
    (nothing waiting) is ok however long ago it last recorded something.
    """
    waiting = fresh.total_lag > 0
    age = max(fresh.oldest_unrecorded_s or 0.0, (fresh.since_progress_s or 0.0) if waiting else 0.0)
    why = (
        f"oldest unrecorded event {fresh.oldest_unrecorded_s or 0:.0f} s old, {fresh.total_lag} record(s) waiting,"
        f" {fresh.members} worker(s) seen"
    )
    if age > failing_after_s:
        return "failing", why
    if age > degraded_after_s:
        return "degraded", why
    return "ok", why


def member_name(client_id: str) -> str:
    """A name for this process's worker row: client id, host and pid."""
    return f"{client_id}@{socket.gethostname()}:{os.getpid()}"


def report(engine: Engine, member: str, group_id: str, m: Membership, recorded: int) -> None:
    """Upsert this worker's row (times converted from monotonic to wall clock)."""
    wall = datetime.now(UTC)
    mono = time.monotonic()

    def at(t: float | None) -> datetime | None:
        return None if t is None else datetime.fromtimestamp(wall.timestamp() - (mono - t), UTC)

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pipeline_member (member, group_id, partitions, state, started_at, seen_at, progress_at,"
                " caught_up_at, recorded, rejoins) VALUES (:member, :group, :owned, :state, :started, :seen,"
                " :progress, :caught_up, :recorded, :rejoins) ON CONFLICT (member) DO UPDATE SET partitions = :owned,"
                " state = :state, seen_at = :seen, progress_at = :progress, caught_up_at = :caught_up,"
                " recorded = :recorded, rejoins = :rejoins"
            ),
            {
                "member": member,
                "group": group_id,
                "owned": m.owned,
                "state": m.state,
                "started": at(m.started),
                "seen": wall,
                "progress": at(m.progress),
                "caught_up": at(m.caught_up),
                "recorded": recorded,
                "rejoins": m.rejoins,
            },
        )


def forget(engine: Engine, member: str) -> None:
    """Remove this worker's row (it stopped cleanly)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM pipeline_member WHERE member = :m"), {"m": member})


# Seconds since the oldest accepted event still unrecorded was received (NULL when none waits).
OLDEST_UNRECORDED = (
    "SELECT extract(epoch FROM now() - min(r.received_at)) FROM event_receipt r"
    " WHERE NOT EXISTS (SELECT 1 FROM event_key e WHERE e.id = r.id)"
)


def database_figures(conn: Connection, group_id: str, seen_within_s: float) -> tuple[float | None, float | None, int]:
    """Age of the oldest unrecorded receipt, time since the group's last progress, live members.

    The group's last progress is the latest batch recorded or moment caught up by any of its
    members, the dead ones' rows included (kept an hour); with neither, the first member's
    start. A member counts as live when its row was refreshed within ``seen_within_s`` (the
    session timeout: a killed worker drops out as the broker drops it).
    """
    row = conn.execute(
        text(
            f"SELECT ({OLDEST_UNRECORDED}) AS oldest,"
            " (SELECT extract(epoch FROM now() - coalesce(greatest(max(progress_at), max(caught_up_at)),"
            " min(started_at))) FROM pipeline_member WHERE group_id = :g) AS since,"
            " (SELECT count(*) FROM pipeline_member WHERE group_id = :g AND seen_at > now() - :seen) AS members"
        ),
        {"g": group_id, "seen": timedelta(seconds=seen_within_s)},
    ).one()
    return (
        None if row.oldest is None else float(row.oldest),
        None if row.since is None else float(row.since),
        int(row.members),
    )


def read_past(ends: dict[int, int], firsts: dict[int, tuple[int | None, int]], committed: dict[int, int]) -> bool:
    """Whether the group has read every record written before a moment (pure).

    On every partition, its committed offset must have reached the first record written at or after it.

    ``ends``: each partition's end offset; ``firsts``: the broker's answer to "the first record
    with a timestamp at or after the moment" (offset, timestamp), where a timestamp below 0
    means there is none (Kafka answers offset -1 there, the local broker offset 0); ``committed``:
    the group's offsets (none or below 0: nothing read).
    """
    for partition, end in ends.items():
        offset, stamp = firsts.get(partition, (None, -1))
        first = end if offset is None or offset < 0 or stamp < 0 else offset
        if max(committed.get(partition, 0), 0) < first:
            return False
    return True


class LagProbe:
    """Consumer lag per partition of the raw topic, from one admin client kept open; answers reused ``ttl_s``."""

    def __init__(
        self, settings: KafkaSettings, group_id: str, topic: str, ttl_s: float = 2.0, timeout_ms: int = 3000
    ) -> None:
        self.settings = settings
        self.timeout_ms = timeout_ms
        self.group_id = group_id
        self.topic = topic
        self.ttl_s = ttl_s
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()
        self._last: tuple[float, dict[int, int]] | None = None

    def lag(self) -> dict[int, int]:
        """``{partition: end offset - committed offset}``; raises KafkaError when the broker does not answer."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.ttl_s:
                return self._last[1]
            ends = self._ends(self.topic)
            try:
                committed = self._client().list_group_offsets({self.group_id: list(ends)}).get(self.group_id, {})
            except KafkaError:
                self.close()
                raise
            lag = {}
            for tp, end in ends.items():
                done = committed.get(tp)
                lag[tp.partition] = max(0, end - (done.offset if done is not None and done.offset >= 0 else 0))
            self._last = (time.monotonic(), lag)
            return lag

    def consumed_before(self, when: datetime) -> bool:
        """Whether the group has read every record of the topic written before ``when`` (see ``read_past``)."""
        with self._lock:
            ends = self._ends(self.topic)
            try:
                admin = self._client()
                firsts = admin.list_partition_offsets({tp: int(when.timestamp() * 1000) for tp in ends})
                committed = admin.list_group_offsets({self.group_id: list(ends)}).get(self.group_id, {})
            except KafkaError:
                self.close()
                raise
        return read_past(
            {tp.partition: end for tp, end in ends.items()},
            {tp.partition: (o.offset, o.timestamp) for tp, o in firsts.items()},
            {tp.partition: o.offset for tp, o in committed.items() if o is not None},
        )

    def written(self, topic: str) -> int:
        """Records ever written to ``topic`` (the sum of its end offsets)."""
        with self._lock:
            return sum(self._ends(topic).values())

    def _client(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = admin_client(
                self.settings, request_timeout_ms=self.timeout_ms, bootstrap_timeout_ms=self.timeout_ms
            )
        return self._admin

    def _ends(self, topic: str) -> dict[TopicPartition, int]:
        try:
            admin = self._client()
            partitions = admin.describe_topics([topic])[0]["partitions"]
            tps = [TopicPartition(topic, p["partition_index"]) for p in partitions]
            return {
                tp: o.offset for tp, o in admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps}).items()
            }
        except (KafkaError, LookupError):
            self.close()
            raise

    def close(self) -> None:
        """Drop the admin client (the next call opens another)."""
        if self._admin is not None:
            with contextlib.suppress(KafkaError):
                self._admin.close()
            self._admin = None
