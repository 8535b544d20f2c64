"""The SLA process loop: each tick runs the clock's jobs, then publishes the outbox."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from cases.clock import end_suspensions, escalate_breaches, flag_patrols, recompute_deadlines, start_clocks
from cases.rules import Rules
from streams.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass
class SlaEngine:
    """One tick: intake, breaches, ended suspensions, patrol flags, then the outbox.

    The first tick that gets through also brings open deadlines in line with this process's
    rules and calendar (they are loaded once, so later ticks have nothing to compare).
    """

    engine: Engine
    rules: Rules
    outbox: Outbox
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _rules_applied: bool = field(default=False, init=False)

    def tick(self) -> dict[str, int]:
        """Run every step once at the clock's now."""
        now = self.clock()
        recomputed = 0
        if not self._rules_applied:
            recomputed = recompute_deadlines(self.engine, self.rules, now)
            self._rules_applied = True
        return {
            "recomputed": recomputed,
            "started": start_clocks(self.engine, self.rules),
            "escalated": escalate_breaches(self.engine, self.rules, now),
            "resumed": end_suspensions(self.engine, self.rules, now),
            "patrol_flags": flag_patrols(self.engine, self.rules, now),
            "published": self.outbox.publish(),
        }

    def run(self, stop: threading.Event, every_s: float) -> None:
        """Tick until ``stop``; errors are logged and the next tick tries again.

        The log says what changed: a tick that did something, the first failure of an
        outage (and how many ticks failed once it ends); a quiet tick writes nothing.
        """
        failures = 0
        try:
            while not stop.is_set():
                try:
                    done = self.tick()
                except Exception:  # the clock must keep ticking through outages
                    if not failures:
                        log.exception("sla tick failed; retrying every %.1f s", every_s)
                    failures += 1
                    self.outbox.close()
                else:
                    if failures:
                        log.warning("sla ticks work again after %d failed", failures)
                        failures = 0
                    if summary := tick_summary(done):
                        log.info("sla: %s", summary)
                stop.wait(every_s)
        finally:
            self.outbox.close()


def tick_summary(done: dict[str, int]) -> str | None:
    """The steps of a tick that did something, as ``started 3, published 5``; None when none did."""
    return ", ".join(f"{step.replace('_', ' ')} {n}" for step, n in done.items() if n) or None
