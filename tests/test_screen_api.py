"""What the wall screen reads besides /v1/indicators: the daily trend, the category mix, and open cases."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, event_body, grid_point
from tests.registers_fixtures import write_event

TZ = ZoneInfo("Asia/Shanghai")
GRID = 128  # a demo grid used by no other test


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        yield client


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


def test_daily_counts_mix_and_open_cases_match_a_hand_count(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, GRID)
    headers = sign_in("screen-district", Role.DISTRICT, grid[:6])
    today = datetime.now(TZ).date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    # Two reports on d1 (city appearance, city appearance), one on d2 (部件 公用设施: a street light), at local hours
    # that lie on the other UTC day (00:30 local is the evening before in UTC).
    a = write_event(demo_city, event_body(lon, lat, category="0102"), _at(d1, 0).replace(minute=30))
    write_event(demo_city, event_body(lon, lat, category="0103"), _at(d1, 23))
    c = write_event(demo_city, event_body(lon, lat, category="BJ0116"), _at(d2, 9))
    with demo_city.begin() as conn:
        conn.execute(  # a is taken in on d1 and closed on d2; c is taken in and still open
            text(
                'UPDATE "case" SET filed_at = opened_at,'
                " state = CASE WHEN id = :a THEN 'closed' ELSE 'in_progress' END,"
                " closed_at = CASE WHEN id = :a THEN CAST(:closed AS timestamptz) END WHERE id IN (:a, :c)"
            ),
            {"a": a, "c": c, "closed": _at(d2, 10)},
        )
    query = {"area": grid, "from": d1.isoformat(), "to": today.isoformat()}
    days = client.get("/v1/indicators/daily", params=query, headers=headers).json()["days"]
    assert days == [
        {"day": d1.isoformat(), "received": 2, "closed": 0},
        {"day": d2.isoformat(), "received": 1, "closed": 1},
        {"day": today.isoformat(), "received": 0, "closed": 0},
    ]
    groups = client.get("/v1/indicators/categories", params=query, headers=headers).json()["groups"]
    assert [(g["group"], g["received"]) for g in groups] == [("sj01", 2), ("bj01", 1)]
    # Open at the end of d2: c (a closed on d2, the third never taken in). Open at the end of d1: a.
    assert _indicators(client, headers, grid, d2)["open"] == 1
    assert _indicators(client, headers, grid, d1)["open"] == 1
    with demo_city.begin() as conn:
        conn.execute(
            text("UPDATE \"case\" SET closed_at = :t, state = 'closed' WHERE id = :c"), {"c": c, "t": datetime.now(UTC)}
        )
    assert _indicators(client, headers, grid, today)["open"] == 0


def _indicators(client: TestClient, headers: dict[str, str], area: str, day: date) -> dict[str, object]:
    params = {"area": area, "from": day.isoformat(), "to": day.isoformat()}
    response = client.get("/v1/indicators", params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_the_screens_ranges_are_bounded(client: TestClient, demo_city: Engine, sign_in: SignIn) -> None:
    headers = sign_in("screen-district", Role.DISTRICT, "321111")
    for path in ("/v1/indicators/daily", "/v1/indicators/categories"):
        backwards = client.get(
            path, params={"area": "321111", "from": "2026-12-02", "to": "2026-12-01"}, headers=headers
        )
        assert backwards.status_code == 422 and "at most 366 days" in backwards.json()["message"]
        elsewhere = client.get(
            path, params={"area": "110101", "from": "2026-12-01", "to": "2026-12-01"}, headers=headers
        )
        assert elsewhere.status_code == 404


def test_the_intake_backlog_counts_reports_not_taken_in_and_those_late_by_hand(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, 138)  # a demo grid used by no other test
    headers = sign_in("backlog-community", Role.COMMUNITY, grid[:12])
    now = datetime.now(UTC)
    waiting, late, marked, taken = (
        write_event(demo_city, event_body(lon, lat, category="0151"), now) for _ in range(4)
    )
    with demo_city.begin() as conn:  # the intake deadlines as the clock would leave them
        for case, deadline, overdue, state in (
            (waiting, now + timedelta(hours=1), False, "reported"),  # 待受理, in time
            (late, now - timedelta(minutes=1), False, "reported"),  # 待受理, past its deadline
            (marked, now + timedelta(hours=1), True, "reported"),  # marked overdue by the clock
            (taken, now - timedelta(hours=1), False, "filed"),  # taken in: no longer waiting
        ):
            conn.execute(
                text('UPDATE "case" SET deadline = :d, overdue = :o, state = :s WHERE id = :id'),
                {"d": deadline, "o": overdue, "s": state, "id": case},
            )
    body = client.get("/v1/indicators/backlog", params={"area": grid[:12]}, headers=headers).json()
    mine = {c["area"]: c for c in body["children"]}[grid]
    assert (mine["awaiting_intake"], mine["intake_overdue"]) == (3, 2)  # waiting, late, marked; late and marked
    assert body["awaiting_intake"] == sum(c["awaiting_intake"] for c in body["children"])
    assert body["intake_overdue"] == sum(c["intake_overdue"] for c in body["children"])
    other = sign_in("backlog-other", Role.COMMUNITY, "321111001002")
    assert client.get("/v1/indicators/backlog", params={"area": grid[:12]}, headers=other).status_code == 404
