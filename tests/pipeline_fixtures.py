"""Helpers shared by the pipeline tests."""

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import shapely
from sqlalchemy import Engine, text

from api.settings import Settings
from geo.locator import Locator
from streams.worker import Worker, open_worker


def event_body(
    lon: float, lat: float, *, crs: str = "wgs84", kind: str = "incident", category: str = "0101", **extra: Any
) -> dict[str, Any]:
    return {
        "schema_version": 1,
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
