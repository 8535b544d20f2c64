"""Per-user rate limit: a token bucket for each user, in this API process."""

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``per_minute`` requests a minute per key on average, up to ``burst`` at once; 0 per minute is no limit."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Spend one request of ``key``'s allowance: 0 if allowed, else the seconds until one is free."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self._rate
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # forget buckets that have refilled: they equal a new one
                self._buckets = {
                    k: (t, a) for k, (t, a) in self._buckets.items() if t + (now - a) * self._rate < self._burst
                }
        return 0.0

    def wait(self, key: str) -> float:
        """The seconds until ``key`` may be spent again (0: now), without spending it."""
        if self._rate <= 0:
            return 0.0
        with self._lock:
            tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def _tokens(self, key: str, now: float) -> float:
        """``key``'s allowance at ``now``: what was left, refilled since (the caller holds the lock)."""
        tokens, at = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - at) * self._rate)


class SignInThrottle:
    """Failed sign-ins, in this API process: walls per address and username, and per address; a delay per username.

    A wall of ``per_pair`` failures a minute for one username from one address, and of
    ``per_address`` a minute from one address whatever the username, stop guessing from a
    place; for the username alone there is only a delay that grows with its recent failures
    (up to ``max_delay_s``), so nobody elsewhere can lock its owner out.
    """

    def __init__(
        self,
        per_pair: int = 10,
        per_address: int = 60,
        max_delay_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pair = RateLimiter(per_pair, per_pair, clock)
        self.address = RateLimiter(per_address, per_address, clock)
        self.max_delay_s = max_delay_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[float, float]] = {}  # username -> (recent failures, at); halves each minute

    def wait(self, address: str, username: str) -> float:
        """Seconds until this address may try this username again (0: now)."""
        return max(self.pair.wait(f"{address}\n{username}"), self.address.wait(address))

    def delay(self, username: str) -> float:
        """How long to hold an attempt on ``username``: 0 below 10 recent failures, then growing to the cap."""
        return min(self.max_delay_s, 0.1 * max(0.0, self._recent(username) - 9))

    def failed(self, address: str, username: str) -> None:
        """Count a wrong password (or an unknown or disabled user) from ``address``."""
        self.pair.take(f"{address}\n{username}")
        self.address.take(address)
        with self._lock:
            self._failures[username] = (self._recent(username) + 1, self._clock())
            if len(self._failures) > 100_000:  # forget usernames whose failures have faded
                self._failures = {u: f for u, f in self._failures.items() if self._recent(u) >= 1}

    def _recent(self, username: str) -> float:
        count, at = self._failures.get(username, (0.0, self._clock()))
        return float(count * 0.5 ** ((self._clock() - at) / 60))
