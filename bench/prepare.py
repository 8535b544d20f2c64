"""Shared set-up of the benchmarks: a fresh database with the demo city and fresh topics."""

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import shapely

from api.access import Principal, Role
from api.accounts import add_users
from api.auth import issue_token
from api.settings import Settings
from cli.local import broker, postgres
from cli.local.scratch import drop_database, fresh_database, fresh_topics
from db.engine import make_engine
from geo.demo import DEMO_DISTRICT, load_demo
from streams.schema import Event, Received


def year_arguments(description: str, *more: tuple[str, dict[str, Any]]) -> argparse.Namespace:
    """The options of a benchmark over a year of cases: how many, runs per timing, keep the database; ``more``."""
    parser = argparse.ArgumentParser(description=description)
    for flag, options in more:
        parser.add_argument(flag, **options)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the bench database (gridgov_bench) to look into")
    return parser.parse_args()


def timed(call: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median seconds of ``runs`` calls after one to warm, and the last answer."""
    call()
    times, answer = [], None
    for _ in range(runs):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def bench_settings(partitions: int = 6) -> Settings:
    """Services up, a fresh database with the demo city, fresh topics."""
    base = Settings()
    postgres.up(base)
    broker.up(base)
    settings = fresh_topics(fresh_database(base, "gridgov_bench"), "b", topic_partitions=partitions)
    engine = make_engine(settings.database.url)
    load_demo(engine)
    engine.dispose()
    return dataclasses.replace(settings, api=base.api.model_copy(update={"event_posts_per_minute": 0.0}))


def bench_headers(
    settings: Settings, username: str = "gw-bench", role: Role = Role.DISTRICT, scope: str = DEMO_DISTRICT
) -> dict[str, str]:
    """User ``username`` (a district supervisor unless told) in the bench database, and its bearer header."""
    engine = make_engine(settings.database.url)
    try:
        add_users(engine, [(username, role, scope, "")], "bench-password")
    finally:
        engine.dispose()
    token = issue_token(settings.api.secret_key, Principal(username, role, scope or "*"), timedelta(hours=2))
    return {"Authorization": f"Bearer {token}"}


def drop(settings: Settings) -> None:
    """Drop the benchmark database."""
    drop_database(settings)


def demo_points(settings: Settings, n: int = 200) -> list[tuple[float, float]]:
    """Points inside the demo city's grids."""
    engine = make_engine(settings.database.url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT ST_AsBinary(geom) FROM area WHERE level = 'grid' LIMIT {int(n)}").all()
    engine.dispose()
    return [(p.x, p.y) for p in (shapely.point_on_surface(shapely.from_wkb(bytes(r[0]))) for r in rows)]


def event_dict(rng: random.Random, points: list[tuple[float, float]], reporter: str = "gw-bench") -> dict[str, Any]:
    """A valid incident at one of ``points``."""
    lon, lat = rng.choice(points)
    return {
        "schema_version": 2,
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "kind": "incident",
        "category": "0102",
        "occurred_at": datetime.now(UTC).isoformat(),
        "location": {"lon": lon, "lat": lat, "crs": "wgs84", "accuracy_m": 5.0},
        "reporter": reporter,
        "description": "bench",
    }


def received_bytes(rng: random.Random, points: list[tuple[float, float]], n: int) -> list[tuple[bytes, bytes]]:
    """``n`` raw-topic messages (key, value)."""
    now = datetime.now(UTC)
    out = []
    for _ in range(n):
        event = Event.model_validate_json(json.dumps(event_dict(rng, points)))
        out.append((event.reporter.encode() + str(event.id)[:4].encode(), Received.stamp(event, now).to_bytes()))
    return out


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (None once the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (0 once it is gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (a postmaster's backends)."""
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit() and (fields := _stat(int(entry))) is not None and int(fields[1]) == parent
    ]


@dataclasses.dataclass
class CpuMeter:
    """CPU seconds used by the worker processes, the local PostgreSQL cluster and the local broker."""

    settings: Settings
    workers: list[int]

    def read(self) -> dict[str, dict[int, float]]:
        """Each group's processes and the CPU each has used so far."""
        postmaster, broker_pid = postgres.pid(self.settings), broker.pid(self.settings)
        groups = {
            "worker": self.workers,
            "PostgreSQL": [postmaster, *children(postmaster)] if postmaster else [],
            "broker": [broker_pid] if broker_pid else [],
        }
        return {name: {p: cpu_seconds(p) for p in pids} for name, pids in groups.items()}

    @staticmethod
    def used(start: dict[str, dict[int, float]], end: dict[str, dict[int, float]]) -> dict[str, float]:
        """CPU seconds each group used between two readings (by the processes alive at the second)."""
        return {name: sum(t - start[name].get(p, 0.0) for p, t in end[name].items()) for name in end}


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a process (API, worker) on the benchmark's database and topics."""
    return os.environ | {
        "GRIDGOV_DATABASE_URL": settings.database.url,
        "GRIDGOV_TOPIC_PREFIX": settings.kafka.topic_prefix,
        "GRIDGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "GRIDGOV_EVENT_POSTS_PER_MINUTE": "0",  # the benchmark posts as one user
    }


def serve(factory: str, settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """The app of ``factory`` (``module:function``) in its own process, so that the load generator or
    the browser's driver does not share its interpreter; returns once it answers ``/health``."""
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port), "--log-level", "warning"],
        env=worker_env(settings),
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code in (200, 503):
                return server
        except httpx.HTTPError:
            if server.poll() is not None:
                raise RuntimeError(f"the API ({factory}) did not start") from None
            time.sleep(0.2)
