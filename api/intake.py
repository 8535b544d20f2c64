"""Taking events in: a receipt and the broker's ack before each 202, shared by the posts that arrive together.

Concurrent posts are stored in groups: while one group's receipts are written, the posts
that arrive meanwhile wait and go together in the next (one database round trip and one
produce for all of them), as a database's group commit does. Once a group's receipts are
written, its messages go to the broker while the next group's receipts are written (at most
two groups wait for the broker). A lone post goes at once, so a quiet API adds no delay; a
busy one does a fraction of the round trips. Every post is answered after its own group's
receipts and acks, never another's.
"""

import asyncio
import base64
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from api.errors import Refusal
from api.metrics import ACCEPTED
from registers.free_text import protect
from registers.protect import Protector
from streams.producer import EventProducer, Message
from streams.receipts import HeldClaims
from streams.schema import Event, Received
from streams.topics import Topics

log = logging.getLogger(__name__)
GROUP_EVENTS = 2000  # at most this many events in one group's statement and produce
# One group's receipts at a time, while at most two groups before it wait for the broker: a group's
# produce no longer holds the next group's receipts back (a post still waits for its own group alone).
PRODUCING_AT_ONCE = 2


class Accepted(BaseModel):
    """The events now held: by the broker, and (with the local broker) by a synchronous receipt."""

    accepted: list[UUID]
    received_at: datetime


@dataclass
class Post:
    """One request's events, stamped, and what it will be answered."""

    received: list[Received]
    result: "asyncio.Future[None] | None" = None
    error: Exception | None = None
    part: str = "database"  # what its group waits for: "database" (its receipts) or "broker"


def stamp(events: list[Event], protector: Protector | None = None) -> list[Received]:
    """The request's events with the receive time and hash, each id once (409 on one id with two contents).

    With a ``protector``, a description holding personal numbers travels masked, its original sealed.
    """
    unique: dict[str, Event] = {}
    for event in events:
        seen = unique.setdefault(str(event.id), event)
        if seen != event:
            raise Refusal("conflict.twice", [str(event.id)], event=str(event.id))
    now = datetime.now(UTC)
    return [_sealed(Received.stamp(e, now), protector) for e in unique.values()]


def _sealed(received: Received, protector: Protector | None) -> Received:
    """``received`` with its description masked and the original sealed, if it holds personal numbers."""
    if protector is None:
        return received
    shown, sealed = protect(received.event.description, protector)
    if sealed is None:
        return received
    event = received.event.model_copy(update={"description": shown})
    return received.model_copy(update={"event": event, "sealed": base64.b64encode(sealed).decode()})


class Intake:
    """Stores posts' receipts and produces their events, grouped; see the module's docstring.

    ``durable`` (the local in-memory broker): a receipt must be committed synchronously
    before a 202, and a database outage is a 503. Otherwise (a replicated Kafka) the
    broker's ack is enough and an unreachable database only skips the content check.
    """

    def __init__(
        self,
        engine: Engine,
        producer: EventProducer,
        topics: Topics,
        *,
        durable: bool,
        protector: Protector | None = None,
        timeout_s: float = 1.25,
    ) -> None:
        self.engine = engine
        self._claims = HeldClaims(engine)  # the groups' claims, on a connection kept for them
        self.timeout_s = timeout_s  # a post not held by then is answered 503 (the part that hangs named)
        self.protector = protector  # seals a description's personal numbers (None: descriptions pass as sent)
        self.producer = producer
        self.topics = topics
        self.durable = durable
        self._waiting: list[Post] = []
        self._claiming = 0  # groups storing their receipts
        self._producing = 0  # groups waiting for the broker

    async def accept(self, events: list[Event]) -> Accepted:
        """Hold ``events`` (claim, produce, acks=all) together with the posts arriving meanwhile.

        A post not held within ``timeout_s`` is refused (503): one still waiting for its group
        is dropped (nothing of it was stored); one whose group hangs may still be held when
        the part comes back, which a post again with the same ids finds.
        """
        loop = asyncio.get_running_loop()
        post = Post(stamp(events, self.protector), loop.create_future())
        self._waiting.append(post)
        self._start_group()
        assert post.result is not None
        # A timer on the post's own future, not asyncio.timeout, which cancels and uncancels the task (some
        # 8% of the intake's time a post, py-spy). Expired, the group, when it ends, answers the post no more.
        expiry = loop.call_later(self.timeout_s, _expire, post.result)
        try:
            await post.result
        except _Expired:
            if post in self._waiting:
                self._waiting.remove(post)
            seconds = f"{self.timeout_s:g}"
            if post.part == "broker":
                raise Refusal("broker_unavailable.slow", seconds=seconds) from None
            raise Refusal("database_unavailable.slow", seconds=seconds) from None
        finally:
            expiry.cancel()
        ACCEPTED.inc(len(post.received))
        return _accepted(post)

    def accept_now(self, events: list[Event]) -> Accepted:
        """Hold ``events`` in this thread, alone (for the low-volume routes: Open311, residents)."""
        post = Post(stamp(events, self.protector))
        self._store([post])
        if post.error is not None:
            raise post.error
        ACCEPTED.inc(len(post.received))
        return _accepted(post)

    def close(self) -> None:
        """Give back the connection the claims keep."""
        self._claims.close()

    def _start_group(self) -> None:
        if not self._waiting or self._claiming or self._producing >= PRODUCING_AT_ONCE:
            return
        taken, size = 0, 0
        while taken < len(self._waiting) and (taken == 0 or size + len(self._waiting[taken].received) <= GROUP_EVENTS):
            size += len(self._waiting[taken].received)
            taken += 1
        group, self._waiting = self._waiting[:taken], self._waiting[taken:]
        self._claiming += 1
        asyncio.get_running_loop().create_task(self._run_group(group))

    async def _run_group(self, group: list[Post]) -> None:
        """The group's receipts, then (the next group's receipts meanwhile) its produce; then its answers."""
        messages: list[Message] = []
        try:
            messages = await run_in_threadpool(self._claim, group)
        except Exception as exc:  # noqa: BLE001 - every post of the group is answered with it
            _fail(group, exc)
        finally:
            self._claiming -= 1
        try:
            if messages:
                for post in group:
                    post.part = "broker"
                self._producing += 1
                self._start_group()
                try:
                    await self.producer.deliver(messages)
                except Exception as exc:  # noqa: BLE001 - every post of the group is answered with it
                    _fail(group, exc)
                finally:
                    self._producing -= 1
        finally:
            for post in group:
                if post.result is not None and not post.result.done():
                    if post.error is None:
                        post.result.set_result(None)
                    else:
                        post.result.set_exception(post.error)
            self._start_group()

    def _store(self, group: list[Post]) -> None:
        """Claim the group's ids, then produce the posts without conflicts in one go (in this thread)."""
        messages = self._claim(group)
        if messages:
            for post in group:
                post.part = "broker"
            self.producer.publish(messages)

    def _claim(self, group: list[Post]) -> list[Message]:
        """Claim every id of the group in one statement; the messages of the posts without conflicts."""
        first: dict[str, Received] = {}
        for post in group:
            for r in post.received:
                first.setdefault(str(r.event.id), r)
        payloads = {i: r.to_bytes() for i, r in first.items()}  # one encoding, for the receipt and the topic
        try:
            conflicts = self._claims(list(first.values()), list(payloads.values()), durable=self.durable)
        except DBAPIError:
            if self.durable:
                raise  # no receipt, no 202 (503)
            log.warning("receipts skipped: database unavailable; the replicated broker holds the events")
            conflicts = set()
        sending: list[Post] = []
        for post in group:
            clash = [
                i
                for r in post.received
                if (i := str(r.event.id)) in conflicts or first[i].content_hash != r.content_hash
            ]
            if clash:
                post.error = Refusal("conflict.sent_differently", clash, n=len(clash))
            else:
                sending.append(post)
        sent = {str(r.event.id) for post in sending for r in post.received}
        return [Message(self.topics.raw, r.event.reporter.encode(), payloads[i]) for i, r in first.items() if i in sent]


class _Expired(Exception):
    """A post not held within the intake's bound."""


def _expire(result: "asyncio.Future[None]") -> None:
    if not result.done():
        result.set_exception(_Expired())


def _fail(group: list[Post], exc: Exception) -> None:
    """Every post of ``group`` not refused already is answered with ``exc``."""
    for post in group:
        post.error = post.error or exc


def _accepted(post: Post) -> Accepted:
    return Accepted(accepted=[r.event.id for r in post.received], received_at=post.received[0].received_at)
