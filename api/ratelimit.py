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
            tokens, at = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self._rate
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # forget buckets that have refilled: they equal a new one
                self._buckets = {
                    k: (t, a) for k, (t, a) in self._buckets.items() if t + (now - a) * self._rate < self._burst
                }
        return 0.0
