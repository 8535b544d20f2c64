"""The live feed: one Kafka reader per API process, fanned out to server-sent-event clients."""

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi.responses import StreamingResponse
from kafka import TopicPartition
from kafka.errors import KafkaError

from streams.kafka import consumer
from streams.settings import KafkaSettings
from streams.topics import Topics

log = logging.getLogger(__name__)
QUEUE_LIMIT = 2000  # per client; a client that falls behind loses the oldest news, not the server's memory
HEARTBEAT_S = 15  # a comment line this often keeps proxies from closing a quiet stream
READY_POLL_S = 0.05


@dataclass(frozen=True)
class Subscriber:
    """One open page: where to deliver, and what it shows: an area, or one department's cases."""

    loop: asyncio.AbstractEventLoop
    queue: "asyncio.Queue[dict[str, Any]]"
    prefix: str
    department: str | None = None

    def wants(self, message: dict[str, Any]) -> bool:
        """An area's page: what happens in its grids; a department's inbox: its cases' transitions."""
        if self.department is not None:
            return message.get("department") == self.department
        return (message.get("grid") or "").startswith(self.prefix)


def to_messages(topic: str, topics: Topics, value: bytes) -> list[dict[str, Any]]:
    """Compact map messages from a located bundle, a transition or an escalation."""
    body = json.loads(value)
    if topic == topics.located:
        out = []
        for item in body["events"]:
            event, location = item["received"]["event"], item["location"]
            out.append(
                {
                    "type": "located",
                    "id": event["id"],
                    "kind": event["kind"],
                    "category": event["category"],
                    "grid": location["grid"],
                    "lat": location["lat"],
                    "lon": location["lon"],
                }
            )
        return out
    return [
        {
            "type": "escalation" if topic == topics.escalations else "transition",
            "case_id": body["case_id"],
            "to_level": body["to_level"],
            "to_state": body["to_state"],
            "grid": body["grid"],
            "lat": body.get("lat"),
            "lon": body.get("lon"),
            "action": body["action"],
            "department": body.get("department"),
            "assignee": body.get("assignee"),
        }
    ]


class LiveFeed:
    """Reads the located, transitions and escalations topics from their ends (no group) and fans out.

    A stream's first event after the reader has found those ends is ``event: ready``: what happens from
    then on reaches the client (a page shows itself live only then).
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.topics = Topics.from_prefix(settings.topic_prefix)
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._positioned = threading.Event()

    def subscribe(self, prefix: str, department: str | None = None) -> Subscriber:
        """Register a client (an area's page, or a department's inbox); starts the reader on first use."""
        subscriber = Subscriber(asyncio.get_running_loop(), asyncio.Queue(QUEUE_LIMIT), prefix, department)
        with self._lock:
            self._subscribers.add(subscriber)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
                self._thread.start()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a client."""
        with self._lock:
            self._subscribers.discard(subscriber)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._read()
            except KafkaError as exc:
                log.warning("live feed: broker unavailable (%s); retrying", exc)
                self._stop.wait(2)

    def _read(self) -> None:
        reader = consumer(self.settings, None, client_id="gridgov-live")  # type: ignore[arg-type]
        try:
            partitions = [
                TopicPartition(t, p)
                for t in (self.topics.located, self.topics.transitions, self.topics.escalations)
                for p in sorted(reader.partitions_for_topic(t) or [])
            ]
            reader.assign(partitions)
            reader.seek_to_end(*partitions)
            for tp in partitions:  # the ends now, not at the first poll: nothing after "ready" is missed
                reader.position(tp)
            self._positioned.set()
            while not self._stop.is_set():
                for tp, records in reader.poll(timeout_ms=200).items():
                    for record in records:
                        for message in to_messages(tp.topic, self.topics, record.value):
                            self._deliver(message)
        finally:
            self._positioned.clear()
            reader.close()

    def _deliver(self, message: dict[str, Any]) -> None:
        with self._lock:
            targets = [s for s in self._subscribers if s.wants(message)]
        for subscriber in targets:
            subscriber.loop.call_soon_threadsafe(_put, subscriber.queue, message)

    async def stream(self, subscriber: Subscriber) -> AsyncIterator[str]:
        """Server-sent events for one client, with a heartbeat so proxies keep the line open."""
        try:
            yield "retry: 2000\n\n"
            waited = 0.0
            while not self._positioned.is_set():  # the reader is still finding the topics' ends
                await asyncio.sleep(READY_POLL_S)
                waited += READY_POLL_S
                if waited >= HEARTBEAT_S:
                    waited = 0.0
                    yield ": heartbeat\n\n"
            yield "event: ready\ndata: {}\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(subscriber.queue.get(), timeout=HEARTBEAT_S)
                    yield f"data: {json.dumps(message, ensure_ascii=False)}\n\n"
                except TimeoutError:
                    yield ": heartbeat\n\n"
        finally:
            self.unsubscribe(subscriber)

    def close(self) -> None:
        """Stop the reader."""
        self._stop.set()


def _put(queue: "asyncio.Queue[dict[str, Any]]", message: dict[str, Any]) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(message)


def event_stream(feed: LiveFeed, subscriber: Subscriber) -> StreamingResponse:
    """The server-sent-event answer for one subscriber (never buffered by a proxy)."""
    return StreamingResponse(
        feed.stream(subscriber),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
