"""The read routes on a real streaming-replication standby of the local cluster: the same answers as the
primary's; the primary's once the standby lags past the bound (replay paused) or is stopped; and
``/health`` and ``/metrics`` say which.
"""

import dataclasses
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Principal, Role
from api.accounts import add_user
from api.app import create_app
from api.auth import issue_token
from api.settings import Settings
from cli.local import standby
from cli.local.scratch import drop_database, fresh_database
from db.engine import make_engine
from db.reads import standby_lag_s
from db.settings import local_url
from geo.demo import DEMO_DISTRICT, load_demo
from tests.pipeline_fixtures import grid_point, tile_of
from tests.test_sla_db import record

TZ = ZoneInfo("Asia/Shanghai")  # the demo rules' city
MAX_LAG_S = 3.0
ROUTES = [
    "/v1/indicators?area={area}&from={day}&to={day}",
    "/v1/indicators/daily?area={area}&from={day}&to={day}",
    "/v1/indicators/categories?area={area}&from={day}&to={day}",
    "/v1/indicators/backlog?area={area}",
    "/v1/reports/monthly?area={area}&month={month}",
    "/v1/map/values?metric=open_cases",
    "/v1/map/values?metric=overdue_visits",
    "/v1/map/grids",
    "/v1/map/heat",
    "/v1/map/escalations",
    "/v1/map/overlays/party",
    "/v1/map/tiles/{tile}.mvt",
    "/screen",
    "/escalations",
]


@dataclasses.dataclass
class Pair:
    """The same database read through an app with the standby and an app with the primary only."""

    engine: Engine
    on_standby: TestClient
    on_primary: TestClient
    standby_conninfo: str

    def both(self, route: str) -> tuple[Any, Any]:
        return _answer(self.on_standby, route), _answer(self.on_primary, route)


def _answer(client: TestClient, route: str) -> Any:
    response = client.get(route)
    assert response.status_code == 200, (route, response.text[:300])
    if "json" not in response.headers["content-type"]:
        return response.content
    body = response.json()
    body.pop("computed_at", None)  # each reading's own moment
    body.pop("at", None)
    return body


def _today() -> str:
    return datetime.now(TZ).date().isoformat()


def _received_today(client: TestClient) -> int:
    day = _today()
    days = client.get(f"/v1/indicators/daily?area={DEMO_DISTRICT}&from={day}&to={day}").json()["days"]
    return sum(d["received"] for d in days)


def _fill(engine: Engine) -> dict[str, str]:
    """The routes' blanks: the demo district, today and this month (local), a tile of its first grid."""
    _, lon, lat = grid_point(engine, 0)
    x, y = tile_of(lon, lat, 14)
    return {"area": DEMO_DISTRICT, "day": _today(), "month": _today()[:7], "tile": f"14/{x}/{y}"}


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    end = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < end, f"not within {timeout_s} s: {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def pair(base_settings: Settings, kafka_settings: object) -> Iterator[Pair]:
    settings = fresh_database(base_settings, "gridgov_standby")
    engine = make_engine(settings.database.url)
    load_demo(engine)
    add_user(engine, "district", "standby-pass-1", Role.DISTRICT, DEMO_DISTRICT)
    record(engine, "incident", "0102", datetime.now(UTC) - timedelta(minutes=5))
    standby.up(base_settings)
    name = settings.database.url.rsplit("/", 1)[1]
    read_url = local_url(base_settings.database.standby_port, name)
    on = settings.database.model_copy(
        update={"database_read_url": read_url, "standby_max_lag_s": MAX_LAG_S, "standby_check_s": 0.2}
    )
    token = issue_token(
        settings.api.secret_key, Principal("district", Role.DISTRICT, DEMO_DISTRICT), timedelta(hours=1)
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with (
            TestClient(create_app(dataclasses.replace(settings, database=on)), headers=headers) as on_standby,
            TestClient(create_app(settings), headers=headers) as on_primary,
        ):
            conninfo = read_url.replace("postgresql+psycopg://", "postgresql://")
            yield Pair(engine, on_standby, on_primary, conninfo)
    finally:
        standby.remove(base_settings)
        engine.dispose()
        drop_database(settings)


def _health(client: TestClient) -> dict[str, Any]:
    return client.get("/health").json()  # type: ignore[no-any-return]


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_1_the_read_routes_answer_from_the_standby_as_from_the_primary(pair: Pair) -> None:
    _wait(lambda: _health(pair.on_standby)["standby"]["status"] == "in_use", "the standby caught up")
    for route in ROUTES:
        from_standby, from_primary = pair.both(route.format(**_fill(pair.engine)))
        assert from_standby == from_primary, route
    assert _received_today(pair.on_standby) >= 1
    assert _metric(pair.on_standby, "gridgov_standby_in_use") == 1
    assert "gridgov_standby_in_use" not in pair.on_primary.get("/metrics").text  # none set: no such figure
    assert "standby" not in _health(pair.on_primary) or _health(pair.on_primary)["standby"] is None


def test_2_a_standby_lagging_past_the_bound_is_passed_over_for_the_primary(pair: Pair) -> None:
    before = _received_today(pair.on_primary)
    with psycopg.connect(pair.standby_conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            record(pair.engine, "incident", "0102", datetime.now(UTC) - timedelta(minutes=1), 3)
            assert _received_today(pair.on_primary) == before + 1
            # Within the bound the standby still answers, and it has not replayed the new report.
            assert _received_today(pair.on_standby) == before
            _wait(lambda: _received_today(pair.on_standby) == before + 1, "reads moved to the primary", 15)
            health = _health(pair.on_standby)
            assert health["standby"]["status"] == "lagging" and health["standby"]["lag_s"] > MAX_LAG_S
            assert health["status"] == "degraded"
            assert _metric(pair.on_standby, "gridgov_standby_in_use") == 0
            assert _metric(pair.on_standby, "gridgov_standby_lag_seconds") > MAX_LAG_S
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")
    _wait(lambda: _health(pair.on_standby)["standby"]["status"] == "in_use", "back on the standby")
    assert _received_today(pair.on_standby) == before + 1
    assert _metric(pair.on_standby, "gridgov_standby_in_use") == 1


def test_3_a_stopped_standby_is_passed_over_and_the_routes_still_answer(pair: Pair, base_settings: Settings) -> None:
    assert standby.down(base_settings)
    _wait(lambda: _health(pair.on_standby)["standby"]["status"] == "down", "the standby seen down")
    health = _health(pair.on_standby)
    assert health["status"] == "degraded" and health["database"]["status"] == "up"
    assert _metric(pair.on_standby, "gridgov_standby_in_use") == 0
    for route in ROUTES:
        from_standby, from_primary = pair.both(route.format(**_fill(pair.engine)))
        assert from_standby == from_primary, route


def test_the_lag_is_the_age_of_the_newest_primary_position_the_standby_holds() -> None:
    noted = [(100.0, 1000), (101.0, 1000), (102.0, 1500), (103.0, 2000)]
    assert standby_lag_s(noted, 2000, 103.5) == 0  # holds the newest
    assert standby_lag_s(noted, 2500, 103.5) == 0  # ahead of the last note
    assert standby_lag_s(noted, 1700, 104.0) == 104.0 - 102.0  # holds what the primary had at 102
    assert standby_lag_s(noted, 1000, 104.0) == 104.0 - 101.0  # an idle primary's repeated position
    assert standby_lag_s(noted, 900, 104.0) == 104.0 - 100.0  # behind every note: at least the oldest's age
    assert standby_lag_s([], 0, 5.0) == 0
