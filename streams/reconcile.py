"""Reconciliation: what the API accepted reaches PostgreSQL, whatever the broker lost.

The reconciler runs beside each worker. Every few seconds it creates the platform's
topics if the broker has lost them (the local broker keeps them in memory), drops
receipts whose events are recorded, and sends again the events accepted long enough
ago and still not recorded. Only one process does a pass at a time.

It sends again only what the recording group has gone past: an event received before
the cutoff is sent again only once the group has read every record the raw topic got
before the cutoff (``LagProbe.consumed_before``). Until then the event may be waiting
behind a stalled or catching-up group, not lost, and a copy would only wait behind it.
"""

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from streams.kafka import admin_client
from streams.producer import BrokerDown, EventProducer, Message
from streams.receipts import count
from streams.settings import KafkaSettings
from streams.topics import Topics, ensure_topics, partitions_off
from streams.watch import LagProbe
from streams.worker import GROUP

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    """One reconciliation pass: receipts dropped (recorded) and events sent again."""

    dropped: int
    resent: int


def reconcile(
    engine: Engine,
    producer: EventProducer,
    raw_topic: str,
    *,
    after: timedelta,
    cutoff: datetime,
    limit: int = 5000,
    gone_past: Callable[[], bool] = lambda: True,
) -> Reconciled:
    """Drop receipts whose event is recorded; send again those received before ``cutoff`` that are not.

    Also forgets the status rows of workers not seen for an hour. When there is something
    to send again, ``gone_past`` is asked whether the group has read every record written
    before ``cutoff``; if not, nothing is sent (it may be waiting behind the group).

    A receipt is sent again once received before ``cutoff``, then ``after`` earlier, and so on: a group
    that is only slow is not flooded with copies. Sending again is harmless: the worker
    records an id once. One pass at a time across processes (an advisory lock); a pass
    that finds the lock taken does nothing.
    """
    with engine.begin() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtext('gridgov.reconcile'))")).scalar_one():
            return Reconciled(0, 0)
        dropped = conn.execute(
            text("DELETE FROM event_receipt r USING event_key e WHERE e.id = r.id AND r.received_at < now() - :grace"),
            {"grace": timedelta(seconds=1)},
        ).rowcount
        # Rows of workers gone for an hour (killed, so they could not remove their own).
        conn.execute(text("DELETE FROM pipeline_member WHERE seen_at < now() - interval '1 hour'"))
        rows = conn.execute(
            text(
                "SELECT id, reporter, payload FROM event_receipt"
                " WHERE received_at < CAST(:cutoff AS timestamptz) - :after * resent AND payload IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM event_key e WHERE e.id = event_receipt.id)"
                " ORDER BY received_at LIMIT :limit FOR UPDATE SKIP LOCKED"
            ),
            {"after": after, "cutoff": cutoff, "limit": limit},
        ).all()
        if rows and not gone_past():
            return Reconciled(dropped, 0)
        if rows:
            producer.publish([Message(raw_topic, (r.reporter or "").encode(), bytes(r.payload)) for r in rows])
            conn.execute(
                text("UPDATE event_receipt SET resent = resent + 1 WHERE id = ANY(:ids)"),
                {"ids": [r.id for r in rows]},
            )
            count(conn, "reconciled", len(rows))
            log.warning(
                "sent again %d accepted event(s) still unrecorded %.0f s or more after they were received"
                " (lost by the broker, or behind a slow group: the worker records each once)",
                len(rows),
                after.total_seconds(),
            )
    return Reconciled(dropped, len(rows))


class Reconciler:
    """The reconciliation loop of one process: topics, then receipts, every ``every_s``."""

    def __init__(
        self, settings: KafkaSettings, engine: Engine, producer: EventProducer, *, after_s: float, every_s: float
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.producer = producer
        self.after = timedelta(seconds=after_s)
        self.every_s = every_s
        self.resent = 0
        self._admin: KafkaAdminClient | None = None  # kept between passes; a new one after a failure
        self._lag = LagProbe(settings, settings.topic_prefix + GROUP, Topics.from_prefix(settings.topic_prefix).raw)

    def _gone_past(self, cutoff: datetime) -> bool:
        """Whether the group has read every raw record written before ``cutoff`` (else: say why not)."""
        if self._lag.consumed_before(cutoff):
            return True
        log.info("not sending again: records written before %s still wait for the recording group", cutoff)
        return False

    def once(self) -> Reconciled:
        """One pass; the broker's or the database's absence is logged and waited out."""
        try:
            if self._admin is None:
                self._admin = admin_client(self.settings)
            created = ensure_topics(self._admin, self.settings)
            if created:
                log.warning("the broker had lost topics %s (a restart of the local broker?): created them", created)
                for name, count in partitions_off(self._admin, self.settings).items():
                    log.warning(
                        "topic %s came back with %d partitions, not %d: the broker created it on a client's request"
                        " before this pass; it works, with that many workers at most sharing it",
                        name,
                        count,
                        self.settings.topic_partitions,
                    )
            raw = Topics.from_prefix(self.settings.topic_prefix).raw
            cutoff = datetime.now(UTC) - self.after
            done = reconcile(
                self.engine,
                self.producer,
                raw,
                after=self.after,
                cutoff=cutoff,
                gone_past=lambda: self._gone_past(cutoff),
            )
        except (KafkaError, BrokerDown, DBAPIError, LookupError) as exc:
            log.info("reconciliation waits: %s", type(exc).__name__)
            if isinstance(exc, KafkaError):
                self.close()
            return Reconciled(0, 0)
        self.resent += done.resent
        return done

    def run(self, stop: threading.Event) -> None:
        """Pass every ``every_s`` until ``stop``."""
        try:
            while not stop.wait(self.every_s):
                self.once()
        finally:
            self.close()

    def close(self) -> None:
        """Drop the admin clients."""
        self._lag.close()
        if self._admin is not None:
            with contextlib.suppress(KafkaError):
                self._admin.close()
            self._admin = None

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run in a daemon thread."""
        thread = threading.Thread(target=self.run, args=(stop,), name="gridgov-reconcile", daemon=True)
        thread.start()
        return thread
