"""The SLA process loop: each tick runs the clock's jobs, then publishes the outbox; the clock watches itself.

Each job runs on its own: one that fails is logged and counted, and the others, and the
outbox after them, still run. After each tick the process writes its row in
``clock_member`` (when the tick finished, ticks, failed jobs, the last tick's errors), so
``/health`` and ``/metrics`` in another process can tell a clock that stalls or fails.
``judge_clock`` (pure) turns those figures into ok, degraded or failing.
"""

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from cases.clock import end_suspensions, escalate_breaches, flag_patrols, recompute_deadlines, start_clocks
from cases.rollup import roll_ended
from cases.rules import Rules
from db.partitions import drop_before, keep_ahead, months_before
from streams.notices import Sender, send_notices
from streams.outbox import Outbox

log = logging.getLogger(__name__)
ClockVerdict = Literal["ok", "degraded", "failing", "unknown"]


def prune_access_log(engine: Engine, before: datetime) -> int:
    """Drop the access log's months that ended before ``before`` and its default partition's older rows; how many."""
    return drop_before(engine, "pii_access", before)


def prune_months(engine: Engine, table: str, now: datetime, keep_months: int) -> int:
    """Drop ``table``'s months that ended ``keep_months`` months before ``now``'s began; how many rows went.

    A month goes only once what it holds is settled (``db.partitions.SETTLED``: every case of it
    ended); with 0 none goes.
    """
    return drop_before(engine, table, months_before(now, keep_months)) if keep_months else 0


@dataclass(frozen=True)
class Notices:
    """How the clock tells people: the sender, the words of a notice's row, the tries a notice gets."""

    sender: Sender
    words: Callable[[Any], str]
    attempts: int = 5


@dataclass
class Tick:
    """What one tick did (per job) and which jobs failed (job → error)."""

    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


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
    access_log_keep: timedelta = timedelta(days=3 * 365)  # GRIDGOV_ACCESS_LOG_DAYS
    case_history_months: int = 0  # GRIDGOV_CASE_HISTORY_MONTHS: 0 keeps every case's history
    event_months: int = 0  # GRIDGOV_EVENT_MONTHS: 0 keeps every event
    notices: Notices | None = None  # who is told of a case dispatched to them or sent back, and in what words
    member: str = field(default_factory=lambda: f"sla@{socket.gethostname()}:{os.getpid()}")
    _rules_applied: bool = field(default=False, init=False)

    def tick(self) -> Tick:
        """Run every job once at the clock's now; a failing job does not stop the others or the outbox."""
        now = self.clock()
        result = Tick()

        def recompute() -> int:
            if self._rules_applied:
                return 0
            changed = recompute_deadlines(self.engine, self.rules, now)
            self._rules_applied = True
            return changed

        jobs: list[tuple[str, Callable[[], int]]] = [
            ("recomputed", recompute),
            ("started", lambda: start_clocks(self.engine, self.rules)),
            ("escalated", lambda: escalate_breaches(self.engine, self.rules, now)),
            ("resumed", lambda: end_suspensions(self.engine, self.rules, now)),
            ("patrol_flags", lambda: flag_patrols(self.engine, self.rules, now)),
            ("rolled", lambda: roll_ended(self.engine, self.rules, now)),
            ("months_made", lambda: keep_ahead(self.engine, now)),
            ("access_log_pruned", lambda: prune_access_log(self.engine, now - self.access_log_keep)),
            ("history_pruned", lambda: prune_months(self.engine, "case_transition", now, self.case_history_months)),
            ("events_pruned", lambda: prune_months(self.engine, "event", now, self.event_months)),
            ("noticed", self._notify),
            ("published", self.outbox.publish),
        ]
        for name, job in jobs:
            try:
                result.done[name] = job()
            except Exception as exc:  # noqa: BLE001 - the clock must keep ticking through a failing job
                result.failed[name] = f"{type(exc).__name__}: {exc}"[:2000]
                if name == "published":
                    self.outbox.close()
        return result

    def _notify(self) -> int:
        if self.notices is None:
            return 0
        return send_notices(self.engine, self.notices.sender, self.notices.words, self.notices.attempts)

    def report(self, result: Tick) -> None:
        """Write this clock's row: the tick finished now, and which of its jobs failed."""
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO clock_member (member, started_at, ticked_at, ticks, failures, last_error)"
                    " VALUES (:m, now(), now(), 1, :failed, :error) ON CONFLICT (member) DO UPDATE SET"
                    " ticked_at = now(), ticks = clock_member.ticks + 1,"
                    " failures = clock_member.failures + :failed, last_error = :error"
                ),
                {
                    "m": self.member,
                    "failed": len(result.failed),
                    "error": "; ".join(f"{job}: {e}" for job, e in result.failed.items()) or None,
                },
            )

    def forget(self) -> None:
        """Remove this clock's row (it stopped cleanly)."""
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM clock_member WHERE member = :m"), {"m": self.member})

    def run(self, stop: threading.Event, every_s: float) -> None:
        """Tick until ``stop``; failing jobs are logged and the next tick tries again.

        The log says what changed: a tick that did something, the first failure of a job (and
        how many ticks it failed once it works again); a quiet tick writes nothing.
        """
        failing: dict[str, int] = {}
        try:
            while not stop.is_set():
                result = self.tick()
                for job, error in result.failed.items():
                    if job not in failing:
                        log.error("sla: %s failed (%s); retrying every %.1f s", job, error, every_s)
                    failing[job] = failing.get(job, 0) + 1
                for job in [j for j in failing if j not in result.failed]:
                    log.warning("sla: %s works again after %d failed tick(s)", job, failing.pop(job))
                if summary := tick_summary(result.done):
                    log.info("sla: %s", summary)
                try:
                    self.report(result)
                except Exception as exc:  # noqa: BLE001 - the database may be away; the next tick tries again
                    log.debug("sla: tick not reported (%s)", type(exc).__name__)
                stop.wait(every_s)
        finally:
            self.outbox.close()
            try:
                self.forget()
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                log.debug("sla: row not removed (%s)", type(exc).__name__)


def tick_summary(done: dict[str, int]) -> str | None:
    """The steps of a tick that did something, as ``started 3, published 5``; None when none did."""
    return ", ".join(f"{step.replace('_', ' ')} {n}" for step, n in done.items() if n) or None


@dataclass(frozen=True)
class ClockFigures:
    """How the clock is doing, read from PostgreSQL (seconds; None when not known)."""

    members: int  # clocks that have reported and not stopped cleanly
    since_tick_s: float | None  # since the last tick that finished, of any clock
    failing_jobs: str | None  # the freshest clock's last tick: the jobs that failed, and why
    ticks: int
    failures: int
    skipped: int  # open cases a job skipped and that have not changed since
    oldest_unpublished_s: float | None  # the oldest transition not yet produced to Kafka
    unpublished: int


def clock_figures(conn: Connection) -> ClockFigures:
    """The clock's figures, now."""
    row = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM clock_member) AS members,"
            " (SELECT extract(epoch FROM now() - max(coalesce(ticked_at, started_at))) FROM clock_member) AS since,"
            " (SELECT last_error FROM clock_member ORDER BY ticked_at DESC NULLS LAST LIMIT 1) AS failing_jobs,"
            " (SELECT coalesce(sum(ticks), 0) FROM clock_member) AS ticks,"
            " (SELECT coalesce(sum(failures), 0) FROM clock_member) AS failures,"
            ' (SELECT count(*) FROM clock_skip s JOIN "case" c ON c.id = s.case_id'
            "  WHERE c.version = s.version AND c.closed_at IS NULL) AS skipped,"
            " (SELECT extract(epoch FROM now() - min(recorded_at)) FROM (SELECT recorded_at FROM case_transition"
            "  WHERE NOT published OR NOT escalation_published ORDER BY id LIMIT 1) o) AS oldest,"
            " (SELECT count(*) FROM case_transition WHERE NOT published OR NOT escalation_published) AS unpublished"
        )
    ).one()
    return ClockFigures(
        int(row.members),
        None if row.since is None else float(row.since),
        row.failing_jobs,
        int(row.ticks),
        int(row.failures),
        int(row.skipped),
        None if row.oldest is None else float(row.oldest),
        int(row.unpublished),
    )


def judge_clock(f: ClockFigures, degraded_after_s: float, failing_after_s: float) -> tuple[ClockVerdict, str]:
    """ok, degraded, failing or unknown, and why.

    Unknown while no clock has reported. Failing when no tick has finished for
    ``failing_after_s``, when the oldest unpublished transition is older than that, or when
    a case is skipped (nobody's clock watches it); degraded past ``degraded_after_s``, or
    when a job of the last tick failed.
    """
    if not f.members:
        return "unknown", "no SLA clock has reported (is `gridgov sla` running?)"
    since = f.since_tick_s or 0.0
    lag = f.oldest_unpublished_s or 0.0
    why = (
        f"last tick {since:.0f} s ago, oldest unpublished transition {lag:.0f} s old,"
        f" {f.skipped} case(s) skipped, {f.failures} failed job(s) in {f.ticks} tick(s)"
    )
    if f.failing_jobs:
        why += f"; last tick: {f.failing_jobs}"
    if since > failing_after_s or lag > failing_after_s or f.skipped:
        return "failing", why
    if since > degraded_after_s or lag > degraded_after_s or f.failing_jobs:
        return "degraded", why
    return "ok", why
