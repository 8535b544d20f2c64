"""What each part of a single post costs, inside one API process, with the part off beside it on.

    python bench/post_parts.py [--segments 8] [--posts 4000]

The real app (database and broker running) is driven through its ASGI entry, 64 posts at a
time, without HTTP. For each part, segments of ``--posts`` posts run alternately with the part
on and off (ABBA, so a drift of this machine's speed meets both); the CPU the process used per
post is read for each segment, and the median ratio of the pairs printed:

- the content hash as written field by field (``Event.canonical_json``) beside the dump it
  replaced (``Event.dumped_canonical``), and beside no hash at all (a constant);
- the broker's acknowledgement (``deliver`` answering at once) and the receipts (a claim that
  stores nothing and finds no conflict).
"""

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from bench.prepare import bench_headers, bench_settings, demo_points, drop, event_dict  # noqa: E402
from streams.producer import EventProducer, Message  # noqa: E402
from streams.receipts import HeldClaims  # noqa: E402
from streams.schema import Event  # noqa: E402


async def _no_ack(self: EventProducer, records: list[Message]) -> None:
    return None


@contextmanager
def swapped(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` for the block."""
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


# Each part: what the app does instead while it is "off".
PARTS: dict[str, Callable[[], Any]] = {
    "content hash, dumped (before) / written": lambda: swapped(
        Event, "content_hash", lambda self: hashlib.sha256(self.dumped_canonical().encode()).hexdigest()
    ),
    "content hash, none / written": lambda: swapped(Event, "content_hash", lambda self: "0" * 64),
    "broker's ack, none / awaited": lambda: swapped(EventProducer, "deliver", _no_ack),
    "receipts, none / stored": lambda: swapped(HeldClaims, "__call__", lambda *_, **__: set()),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=8, help="pairs of segments per part")
    parser.add_argument("--posts", type=int, default=4000, help="posts per segment")
    args = parser.parse_args()
    settings = bench_settings()
    try:
        points = demo_points(settings)
        token = bench_headers(settings)["Authorization"].encode()
        asyncio.run(_measure(settings, points, token, args.segments, args.posts))
    finally:
        drop(settings)


async def _measure(settings: Any, points: list[tuple[float, float]], token: bytes, segments: int, posts: int) -> None:
    app = create_app(settings)
    rng = random.Random()

    async def post(body: bytes) -> None:
        headers = [(b"authorization", token), (b"content-type", b"application/json")]
        scope = {"type": "http", "method": "POST", "path": "/v1/events", "headers": headers, "query_string": b""}
        scope |= {"http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80), "root_path": ""}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the body is all sent: the lane waits here only if cancelled
            raise AssertionError("unreachable")

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        assert statuses == [202], statuses

    async def segment(n: int) -> float:
        """CPU µs a post over ``n`` posts, 64 at a time."""
        bodies = [json.dumps(event_dict(rng, points)).encode() for _ in range(n)]

        async def lane() -> None:
            while bodies:
                await post(bodies.pop())

        started = time.process_time()
        await asyncio.gather(*(lane() for _ in range(64)))
        return 1e6 * (time.process_time() - started) / n

    async with app.router.lifespan_context(app):
        await segment(3000)  # warm: connections, caches, the first calls' paths
        for name, off in PARTS.items():
            runs: dict[bool, list[float]] = {True: [], False: []}
            for k in range(segments):
                for on in (True, False) if k % 2 == 0 else (False, True):
                    if on:
                        runs[on].append(await segment(posts))
                    else:
                        with off():
                            runs[on].append(await segment(posts))
            ratios = [o / w for o, w in zip(runs[False], runs[True], strict=True)]
            print(
                f"{name:42s} off {statistics.median(runs[False]):6.1f} µs/post,"
                f" on {statistics.median(runs[True]):6.1f}; off/on x{statistics.median(ratios):.3f}"
                f" (pairs x{min(ratios):.2f}-x{max(ratios):.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
