"""Reads that may go to a streaming-replication standby, while it keeps up; else to the primary.

A thread checks every ``check_s``: it notes the primary's WAL position with the time, then
reads how far the standby has replayed. The standby's lag is the age of the newest noted
position it has replayed (0 when it holds the newest): a standby of an idle primary is not
behind, and one whose replay stopped falls behind by the clock, not by bytes. Read routes
take ``engine()``: the standby while its lag is within ``max_lag_s`` and its last check is
recent, else the primary. Writes and a page read right after an action never come here.
"""

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, text

from db.engine import make_engine

StandbyStatus = Literal["in_use", "lagging", "down"]

_PRIMARY_POSITION = text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
_REPLAYED = text("SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn()) - '0/0'::pg_lsn")


def standby_lag_s(noted: Sequence[tuple[float, int]], replayed: int, now: float) -> float:
    """How far behind a standby that has replayed up to WAL position ``replayed`` is, at ``now``.

    ``noted`` holds (time, primary position), oldest first. The standby holds all the primary had
    at the newest noted time whose position it has replayed; its lag is that time's age (at least
    the oldest note's age when it holds none of them).
    """
    if not noted or replayed >= noted[-1][1]:
        return 0.0
    held = [at for at, position in noted if position <= replayed]
    return max(0.0, now - (held[-1] if held else noted[0][0]))


@dataclass(frozen=True)
class StandbyState:
    """Where the read routes go now, and why."""

    status: StandbyStatus
    lag_s: float | None  # None: not measured (the standby or the primary did not answer)
    detail: str

    @property
    def in_use(self) -> bool:
        """Whether the read routes read from the standby."""
        return self.status == "in_use"


class ReadRoute:
    """Chooses the engine of the read routes: the standby while it keeps within ``max_lag_s``, else the primary."""

    def __init__(self, primary: Engine, standby: Engine | None, max_lag_s: float, check_s: float) -> None:
        self.primary = primary
        self.standby = standby
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self._noted: deque[tuple[float, int]] = deque()
        self._state = StandbyState("down", None, "not checked yet")
        self._checked = 0.0
        self._stop = threading.Event()
        if standby is not None:
            url = standby.url.render_as_string(hide_password=False)
            primary_url = primary.url.render_as_string(hide_password=False)
            self._watch_standby = make_engine(url, 1, connect_timeout_s=2, pool_timeout_s=1, statement_timeout_ms=1000)
            self._watch_primary = make_engine(
                primary_url, 1, connect_timeout_s=2, pool_timeout_s=1, statement_timeout_ms=1000
            )
            self._check()
            threading.Thread(target=self._run, name="standby-check", daemon=True).start()

    @property
    def configured(self) -> bool:
        """Whether a standby is set (``GRIDGOV_DATABASE_READ_URL``)."""
        return self.standby is not None

    def state(self) -> StandbyState:
        """The last check's verdict; down when no check has answered for three rounds (a hung standby)."""
        stale = time.monotonic() - self._checked > max(3 * self.check_s, 3.0)
        if stale and self._state.status == "in_use":
            return StandbyState("down", None, f"no answer for {time.monotonic() - self._checked:.0f} s")
        return self._state

    def engine(self) -> Engine:
        """The standby when it is in use, else the primary."""
        if self.standby is not None and self.state().in_use:
            return self.standby
        return self.primary

    def close(self) -> None:
        """Stop checking and close the standby's connections (the primary's engine is the caller's)."""
        self._stop.set()
        if self.standby is not None:
            self._watch_standby.dispose()
            self._watch_primary.dispose()
            self.standby.dispose()

    def _run(self) -> None:
        while not self._stop.wait(self.check_s):
            self._check()

    def _check(self) -> None:
        now = time.monotonic()
        try:
            with self._watch_primary.connect() as conn:
                self._noted.append((now, int(conn.execute(_PRIMARY_POSITION).scalar_one())))
            with self._watch_standby.connect() as conn:
                recovering, replayed = conn.execute(_REPLAYED).one()
        except Exception as exc:  # noqa: BLE001 - any failure of the check is the verdict "down"
            error = type(getattr(exc, "orig", None) or exc).__name__
            self._state, self._checked = StandbyState("down", None, error), time.monotonic()
            return
        keep = max(2 * self.max_lag_s, 60.0)
        while len(self._noted) > 1 and self._noted[1][0] < now - keep:
            self._noted.popleft()
        lag = standby_lag_s(self._noted, int(replayed), time.monotonic()) if recovering else 0.0
        if lag > self.max_lag_s:
            state = StandbyState(
                "lagging", lag, f"{lag:.1f} s behind (bound {self.max_lag_s:g} s): reading the primary"
            )
        else:
            state = StandbyState("in_use", lag, f"{lag:.1f} s behind" if recovering else "not in recovery")
        self._state, self._checked = state, time.monotonic()
