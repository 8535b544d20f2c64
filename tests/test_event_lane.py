"""``POST /v1/events`` served by ``api.event_lane`` answers every request as the documented route behind
FastAPI's whole stack does: the same status, body and headers, in zh and en (real PostGIS and broker)."""

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.event_lane import EventLane
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point

MOMENT_BOUND = ("received_at",)  # when each app took the post in


@pytest.fixture(scope="module")
def clients(settings: Settings, demo_city: Engine) -> Iterator[tuple[TestClient, TestClient]]:
    laned = create_app(settings)
    whole = create_app(settings)
    whole.lane = None
    assert isinstance(laned.lane, EventLane)
    with TestClient(laned) as lane, TestClient(whole) as stack:
        yield lane, stack


def _answer(client: TestClient, **request: Any) -> tuple[int, Any, dict[str, str]]:
    response = client.post("/v1/events", **request)
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = response.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in MOMENT_BOUND}
    kept = ("content-type", "retry-after", "www-authenticate")
    return response.status_code, body, {k: v for k, v in response.headers.items() if k in kept}


Case = Callable[[SignIn, Engine], dict[str, Any]]


def _signed(sign_in: SignIn, user: str, role: Role, scope: str, body: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"json": body, "headers": sign_in(user, role, scope) | more}


def _in_grid(engine: Engine) -> tuple[str, float, float]:
    return grid_point(engine, 3)


CASES: dict[str, Case] = {
    "accepted": lambda s, e: _signed(s, "lane-d", Role.DISTRICT, "321111", event_body(119.43, 32.2, reporter="lane-d")),
    "no token": lambda s, e: {"json": event_body(119.43, 32.2)},
    "a token not signed here": lambda s, e: {
        "json": event_body(119.43, 32.2),
        "headers": {"Authorization": "Bearer x.y.z"},
    },
    "a role the route does not admit": lambda s, e: _signed(
        s, "lane-c", Role.COMMANDER, "", event_body(119.43, 32.2, reporter="lane-c")
    ),
    "posted as someone else": lambda s, e: _signed(
        s, "lane-d", Role.DISTRICT, "321111", event_body(119.43, 32.2, reporter="somebody-else")
    ),
    "a bad field, zh": lambda s, e: _signed(
        s, "lane-d", Role.DISTRICT, "321111", event_body(119.43, 91.0, reporter="lane-d"), **{"Accept-Language": "zh"}
    ),
    "a bad field, en": lambda s, e: _signed(
        s, "lane-d", Role.DISTRICT, "321111", event_body(119.43, 91.0, reporter="lane-d"), **{"Accept-Language": "en"}
    ),
    "not JSON": lambda s, e: {
        "content": b"{not json",
        "headers": s("lane-d", Role.DISTRICT, "321111") | {"content-type": "application/json"},
    },
    "declared over the limit": lambda s, e: {
        "content": b"{}" + b" " * 40_000,
        "headers": s("lane-d", Role.DISTRICT, "321111") | {"content-type": "application/json"},
    },
    "declared over the limit, no token": lambda s, e: {
        "content": b"{}" + b" " * 40_000,
        "headers": {"content-type": "application/json"},
    },
    "outside every district": lambda s, e: _signed(
        s, "lane-d", Role.DISTRICT, "321111", event_body(100.0, 30.0, reporter="lane-d")
    ),
    "a gridworker in their grid": lambda s, e: _signed(
        s, "lane-g", Role.GRIDWORKER, _in_grid(e)[0], event_body(*_in_grid(e)[1:], reporter="lane-g")
    ),
    "a gridworker outside their grid": lambda s, e: _signed(
        s, "lane-g2", Role.GRIDWORKER, _in_grid(e)[0], event_body(*grid_point(e, 40)[1:], reporter="lane-g2")
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_the_lane_answers_as_the_route_behind_the_whole_stack(
    clients: tuple[TestClient, TestClient], sign_in: SignIn, demo_city: Engine, name: str
) -> None:
    lane, stack = clients
    request = CASES[name](sign_in, demo_city)
    if "json" in request and "id" in request["json"]:
        request["json"] = request["json"] | {"id": str(uuid.uuid4())}
    first = _answer(lane, **request)
    assert first == _answer(stack, **request)  # the same event again: held, so the same 202
    assert first[0] != 500, first


def test_one_id_sent_with_two_contents_is_409_from_either(
    clients: tuple[TestClient, TestClient], sign_in: SignIn
) -> None:
    lane, stack = clients
    headers = sign_in("lane-d", Role.DISTRICT, "321111")
    body = event_body(119.43, 32.2, reporter="lane-d")
    assert lane.post("/v1/events", json=body, headers=headers).status_code == 202
    changed = body | {"description": "另一段描述"}
    assert _answer(lane, json=changed, headers=headers) == _answer(stack, json=changed, headers=headers)
    assert _answer(lane, json=changed, headers=headers)[0] == 409


def test_the_statuses_cover_each_refusal(
    clients: tuple[TestClient, TestClient], sign_in: SignIn, demo_city: Engine
) -> None:
    lane, _ = clients
    statuses = {}
    for name, case in CASES.items():
        request = case(sign_in, demo_city)
        if "json" in request and "id" in request["json"]:
            request["json"] = request["json"] | {"id": str(uuid.uuid4())}
        statuses[name] = _answer(lane, **request)[0]
    assert statuses == {
        "accepted": 202,
        "no token": 401,
        "a token not signed here": 401,
        "a role the route does not admit": 403,
        "posted as someone else": 403,
        "a bad field, zh": 422,
        "a bad field, en": 422,
        "not JSON": 422,
        "declared over the limit": 413,
        "declared over the limit, no token": 413,
        "outside every district": 422,
        "a gridworker in their grid": 202,
        "a gridworker outside their grid": 422,
    }
