"""Reads that never hold their caller: ``/health`` and ``/metrics`` look at PostgreSQL and the broker through them.

A ``Probe`` runs its read in a thread of its own, one read at a time. A caller waits for
the read at most the time it can spare and otherwise goes on with the last answer and its
age. A read that hangs (a stopped server keeps its connections open and answers nothing)
holds one thread, never the caller and never another read of the same probe.
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Reading(Generic[T]):
    """A probe's answer: the value read now, or the last one and its age, or the error."""

    value: T | None
    age_s: float | None  # of ``value`` (0 when read now); None when nothing was ever read
    error: str | None = None  # why this read gave nothing: the read's error, or no answer in time

    @property
    def fresh(self) -> bool:
        """Whether ``value`` was read now."""
        return self.error is None


class Probe(Generic[T]):
    """Runs ``read`` in its own thread, one at a time, and keeps the last value."""

    def __init__(self, read: Callable[[], T], name: str) -> None:
        self._read = read
        self.name = name
        self._lock = threading.Lock()
        self._running: Future[T] | None = None
        self._last: tuple[float, T] | None = None

    def _start(self) -> "Future[T]":
        with self._lock:
            if self._running is None or self._running.done():
                self._running = Future()
                threading.Thread(
                    target=self._run, args=(self._running,), name=f"probe-{self.name}", daemon=True
                ).start()
            return self._running

    def _run(self, future: "Future[T]") -> None:
        try:
            value = self._read()
        except Exception as exc:  # noqa: BLE001 - the reading carries it to the caller
            future.set_exception(exc)
            return
        self._last = (time.monotonic(), value)
        future.set_result(value)

    def _reading(self, future: "Future[T] | None", waited_s: float) -> Reading[T]:
        error: str | None
        if future is not None and future.done():
            exc = future.exception()
            if exc is None:
                return Reading(future.result(), 0.0)
            error = type(getattr(exc, "orig", None) or exc).__name__
        else:
            error = f"no answer within {waited_s:g} s"
        if self._last is None:
            return Reading(None, None, error)
        return Reading(self._last[1], time.monotonic() - self._last[0], error)

    async def read(self, wait_s: float) -> Reading[T]:
        """Read now if the read answers within ``wait_s``; otherwise the last value, its age and why."""
        future = self._start()
        waiting = asyncio.wrap_future(future)
        waiting.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late error is the reading's
        with contextlib.suppress(Exception):  # the reading says which (no answer in time, or the read's error)
            await asyncio.wait_for(asyncio.shield(waiting), wait_s)
        return self._reading(future, wait_s)

    def read_now(self, wait_s: float) -> Reading[T]:
        """``read`` for a caller in a thread."""
        future = self._start()
        with contextlib.suppress(Exception):  # the reading says which
            future.result(timeout=wait_s)
        return self._reading(future, wait_s)
