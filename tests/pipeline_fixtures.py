"""What the pipeline tests share: event bodies, waiting for rows, workers in a thread or a process."""

import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import shapely
from fastapi.testclient import TestClient
from kafka.admin import NewTopic
from sqlalchemy import Connection, Engine, text

from api.settings import Settings
from cli.local.scratch import fresh_topics
from geo.locator import Locator
from streams.kafka import admin_client
from streams.settings import KafkaSettings
from streams.worker import Worker, open_worker

# Tests that read the API's English messages ask for English; the default answer is Chinese.
ENGLISH = {"Accept-Language": "en"}


CASE = (
    'INSERT INTO "case" (id, category, sla_class, state, level, opened_at, number{extra})'
    " VALUES (:id, '0102', 'general', :state, 'grid', :opened, :number{values})"
)


def insert_case(
    conn: Connection, case_id: uuid.UUID, opened: datetime, state: str, reported: datetime | None = None
) -> uuid.UUID:
    """A case row as the writer opens one; ``reported``: its report's moment (None: a schema before 0034's)."""
    extra = {"extra": ", event_occurred_at", "values": ", :reported"} if reported else {"extra": "", "values": ""}
    conn.execute(
        text(CASE.format(**extra)),
        {"id": case_id, "state": state, "opened": opened, "reported": reported, "number": f"T{case_id.hex[:20]}"},
    )
    return case_id


def event_body(
    lon: float, lat: float, *, crs: str = "wgs84", kind: str = "incident", category: str = "0102", **extra: Any
) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "id": str(uuid.uuid4()),
        "kind": kind,
        "category": category,
        "occurred_at": datetime.now(UTC).isoformat(),
        "location": {"lon": lon, "lat": lat, "crs": crs, "accuracy_m": 5.0},
        "reporter": "gw-test",
        "description": "测试",
        **extra,
    }


def recorded(engine: Engine, ids: list[str]) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT id::text, grid_code, community_code, street_code, district_code, locate_method, kind"
                    " FROM event WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            )
            .mappings()
            .all()
        )
    return {r["id"]: dict(r) for r in rows}


def wait_recorded(engine: Engine, ids: list[str], timeout: float = 60) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = recorded(engine, ids)
        if len(found) == len(set(ids)) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def grid_point(engine: Engine, index: int = 0) -> tuple[str, float, float]:
    """A grid code of the active generation and a point well inside it."""
    with engine.connect() as conn:
        code, wkb = conn.execute(
            text(
                "SELECT a.code, ST_AsBinary(a.geom) FROM active_area a"
                " WHERE a.level = 'grid' ORDER BY a.code OFFSET :i LIMIT 1"
            ),
            {"i": index},
        ).one()
    point = shapely.point_on_surface(shapely.from_wkb(bytes(wkb)))
    return code, point.x, point.y


@contextmanager
def running_worker(settings: Settings, engine: Engine, group_id: str) -> Iterator[Worker]:
    """A recording worker in a thread of this process for the duration of the block."""
    stop = threading.Event()
    worker = open_worker(settings.kafka, engine, Locator(engine), group_id=group_id)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=30)


def quick_topics(settings: Settings, session_ms: int = 3000, heartbeat_ms: int = 1000) -> Settings:
    """Fresh topics, and a consumer group that notices a dead member within ``session_ms``."""
    return fresh_topics(settings, "f", kafka_session_timeout_ms=session_ms, kafka_heartbeat_interval_ms=heartbeat_ms)


def worker_env(settings: Settings) -> dict[str, str]:
    return os.environ | {
        "GRIDGOV_DATABASE_URL": settings.database.url,
        "GRIDGOV_TOPIC_PREFIX": settings.kafka.topic_prefix,
        "GRIDGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "GRIDGOV_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka.kafka_session_timeout_ms),
        "GRIDGOV_KAFKA_HEARTBEAT_INTERVAL_MS": str(settings.kafka.kafka_heartbeat_interval_ms),
    }


def count_reported(engine: Engine, reporter: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM event WHERE reporter = :r"), {"r": reporter}).scalar_one())


def rows_and_ids(engine: Engine, reporter: str) -> tuple[int, int]:
    """Rows recorded for ``reporter`` and their distinct ids: equal when nothing was doubled."""
    with engine.connect() as conn:
        rows, ids = conn.execute(
            text("SELECT count(*), count(DISTINCT id) FROM event WHERE reporter = :r"), {"r": reporter}
        ).one()
    return int(rows), int(ids)


def start_worker(settings: Settings, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "--batch-size", "100"],
        env=worker_env(settings) | (env or {}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class Load:
    """Posts small batches as one gridworker until stopped; remembers what got a 202 and the other answers."""

    def __init__(self, client: TestClient, reporter: str, points: list[tuple[float, float]]) -> None:
        self.client = client
        self.reporter = reporter
        self.points = points
        self.accepted: list[str] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        rng = random.Random(5)
        while not self._stop.is_set():
            events = [event_body(*rng.choice(self.points), reporter=self.reporter) for _ in range(5)]
            response = self.client.post("/v1/events/batch", json={"events": events})
            self.statuses.append(response.status_code)
            if response.status_code == 202:
                self.accepted.extend(response.json()["accepted"])
            time.sleep(0.05)

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(self, more: int, timeout: float = 60) -> None:
        """Until ``more`` further events were accepted."""
        target = len(self.accepted) + more
        deadline = time.monotonic() + timeout
        while len(self.accepted) < target and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.accepted) >= target, f"load stalled; answers {self.statuses[-5:]}"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web-mercator tile (x, y) of zoom ``z`` that holds the point."""
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def new_topic(kafka: KafkaSettings, partitions: int = 6, name: str = "roundtrip") -> str:
    """A topic of its own under the run's prefix, with ``partitions``; its name."""
    topic = f"{kafka.topic_prefix}{name}.{uuid.uuid4().hex[:6]}"
    admin = admin_client(kafka)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return topic
