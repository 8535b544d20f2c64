"""居民点单 → 社区派单 → 党员接单 → 组织评单 on the real services; satisfaction and points by hand."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, grid_point, running_worker, wait_recorded

INDEX = 150  # grids of the demo city used by no other test
RATED_INDEX = 160


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with (
        running_worker(settings, demo_city, "test-requests"),
        TestClient(create_app(settings), headers=ENGLISH) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def place(demo_city: Engine) -> tuple[str, float, float]:
    return grid_point(demo_city, INDEX)


def _ask(client: TestClient, resident: dict[str, str], lon: float, lat: float, service: str = "9102") -> str:
    now = datetime.now(UTC)
    body = {
        "id": str(uuid.uuid4()),
        "service": service,
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "window": {"start": (now + timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=4)).isoformat()},
        "description": "需要陪同去医院复查",
    }
    response = client.post("/v1/requests", json=body, headers=resident)
    assert response.status_code == 202, response.text
    return body["id"]


def _act(client: TestClient, request_id: str, headers: dict[str, str], **body: str) -> dict[str, object]:
    response = client.post(f"/v1/requests/{request_id}/transitions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_a_request_goes_from_the_resident_to_a_volunteer_and_back_to_a_rating(
    client: TestClient, demo_city: Engine, sign_in: SignIn, place: tuple[str, float, float]
) -> None:
    grid, lon, lat = place
    community = grid[:12]
    resident = sign_in("res-wang", Role.RESIDENT, community)
    staff = sign_in("staff-li", Role.COMMUNITY, community)
    volunteer = sign_in("vol-zhang", Role.VOLUNTEER, community)
    other_volunteer = sign_in("vol-chen", Role.VOLUNTEER, community)
    sign_in("vol-elsewhere", Role.VOLUNTEER, "321111002001")

    request_id = _ask(client, resident, lon, lat)
    assert request_id in wait_recorded(demo_city, [request_id])
    mine = client.get(f"/v1/requests/{request_id}", headers=resident).json()
    assert mine["state"] == "reported" and mine["service"] == "9102" and mine["community_code"] == community
    assert mine["window_end"] > mine["window_start"]

    wrong = client.post(
        f"/v1/requests/{request_id}/transitions",
        json={"action": "dispatch", "volunteer": "vol-elsewhere"},
        headers=staff,
    )
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "volunteer"
    early = client.post(f"/v1/requests/{request_id}/rating", json={"score": 5}, headers=resident)
    assert early.status_code == 409  # nothing to rate yet

    assert _act(client, request_id, staff, action="dispatch", volunteer="vol-chen")["assignee"] == "vol-chen"
    assert client.get(f"/v1/requests/{request_id}", headers=volunteer).status_code == 404  # not given to zhang
    declined = _act(client, request_id, other_volunteer, action="decline", note="那天要上班")
    assert declined["state"] == "filed" and declined["assignee"] is None  # back to the dispatcher
    _act(client, request_id, staff, action="dispatch", volunteer="vol-zhang")
    refused = client.post(f"/v1/requests/{request_id}/transitions", json={"action": "accept"}, headers=other_volunteer)
    assert refused.status_code == 404  # chen no longer holds it
    assert _act(client, request_id, volunteer, action="accept")["state"] == "in_progress"
    assert _act(client, request_id, volunteer, action="resolve", note="已陪同")["state"] == "resolved"

    stranger = sign_in("res-zhao", Role.RESIDENT, community)
    assert client.post(f"/v1/requests/{request_id}/rating", json={"score": 1}, headers=stranger).status_code == 404
    rated = client.post(f"/v1/requests/{request_id}/rating", json={"score": 5, "comment": "很耐心"}, headers=resident)
    assert rated.status_code == 200, rated.text
    assert rated.json()["state"] == "closed" and rated.json()["score"] == 5 and rated.json()["rated_by"] == "res-wang"
    again = client.post(f"/v1/requests/{request_id}/rating", json={"score": 1}, headers=resident)
    assert again.status_code == 409

    history = client.get(f"/v1/cases/{request_id}", headers=staff).json()["history"]
    assert [(h["action"], h["actor"]) for h in history] == [
        ("dispatch", "staff-li"),
        ("decline", "vol-chen"),
        ("dispatch", "staff-li"),
        ("accept", "vol-zhang"),
        ("resolve", "vol-zhang"),
        ("verify", "res-wang"),
    ]
    listed = client.get("/v1/requests", headers=resident).json()["requests"]
    assert [r["id"] for r in listed] == [request_id]


def test_satisfaction_and_points_match_hand_computed_values(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, RATED_INDEX)
    community = grid[:12]
    staff = sign_in("staff-zhou", Role.COMMUNITY, community)
    resident = sign_in("res-sun", Role.RESIDENT, community)
    helpers = {name: sign_in(name, Role.VOLUNTEER, community) for name in ("vol-a", "vol-b")}
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # indicators count local days
    plan = [("vol-a", 4), ("vol-a", 2), ("vol-b", 5)]
    ids = [_ask(client, resident, lon, lat, service="9101") for _ in plan]
    wait_recorded(demo_city, ids)
    for request_id, (name, score) in zip(ids, plan, strict=True):
        _act(client, request_id, staff, action="dispatch", volunteer=name)
        _act(client, request_id, helpers[name], action="accept")
        _act(client, request_id, helpers[name], action="resolve")
        response = client.post(f"/v1/requests/{request_id}/rating", json={"score": score}, headers=staff)
        assert response.status_code == 200, response.text

    days = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    in_grid = client.get("/v1/indicators", params={"area": grid, **days}, headers=staff).json()
    assert (in_grid["ratings"], in_grid["satisfaction"]) == (3, round((4 + 2 + 5) / 3, 3)) == (3, 3.667)
    street = sign_in("staff-street", Role.STREET, grid[:9])
    by_community = client.get("/v1/indicators", params={"area": grid[:9], **days}, headers=street).json()["children"]
    (row,) = [c for c in by_community if c["area"] == community]
    assert (row["ratings"], row["satisfaction"]) == (3, 3.667)
    points = {v["username"]: v for v in client.get(f"/v1/communities/{community}/volunteers", headers=staff).json()}
    assert (points["vol-a"]["completed"], points["vol-a"]["points"], points["vol-a"]["mean_score"]) == (2, 20, 3.0)
    assert (points["vol-b"]["completed"], points["vol-b"]["points"], points["vol-b"]["mean_score"]) == (1, 10, 5.0)
    own = client.get(f"/v1/communities/{community}/volunteers", headers=helpers["vol-a"])
    assert own.status_code == 200
    assert client.get("/v1/communities/321111002001/volunteers", headers=helpers["vol-a"]).status_code == 404


def test_a_request_needs_a_service_category_and_a_window(
    client: TestClient, sign_in: SignIn, place: tuple[str, float, float]
) -> None:
    grid, lon, lat = place
    resident = sign_in("res-wang", Role.RESIDENT, grid[:12])
    now = datetime.now(UTC)
    body = {
        "id": str(uuid.uuid4()),
        "service": "9102",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "window": {"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()},
    }
    backwards = client.post("/v1/requests", json=body, headers=resident)
    assert backwards.status_code == 422 and "window.end must be after window.start" in backwards.text
    body["window"] = {"start": now.isoformat(), "end": (now + timedelta(days=20)).isoformat()}
    assert "at most 14 days" in client.post("/v1/requests", json=body, headers=resident).text
    body |= {"service": "0102", "window": {"start": now.isoformat(), "end": (now + timedelta(hours=1)).isoformat()}}
    assert client.post("/v1/requests", json=body, headers=resident).status_code == 422
    body |= {"service": "9102", "location": {"lon": 116.4, "lat": 39.9, "crs": "wgs84"}}  # Beijing: no district here
    far = client.post("/v1/requests", json=body, headers=resident)
    assert far.status_code == 422 and "outside the area this platform serves" in far.json()["message"]
    assert far.json()["detail"][0]["field"] == "location"
