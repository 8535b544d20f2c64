"""Every route × every role × an object inside and outside the caller's scope, on the real services.

A route missing from ``CALLS`` fails the run, as does a route missing from ``api.access.POLICY``.
"""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from api.access import EVERYWHERE, POLICY, PUBLIC, Role
from api.app import create_app, route_keys
from api.settings import Settings
from geo.locator import Locator
from streams import stages
from streams.record import write_events
from streams.schema import Event, Received
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_helpers import event_body, grid_point
from tests.server import serve

GRID = "321111001001001"  # every area scope below contains this grid
DEPARTMENT = "区城市管理局"
CATEGORY = "0404"  # used by no other test, so a listing holds only this test's cases
SCOPES = {
    Role.GRIDWORKER: GRID,
    Role.COMMUNITY: GRID[:12],
    Role.STREET: GRID[:9],
    Role.DISTRICT: GRID[:6],
    Role.DEPARTMENT: DEPARTMENT,
    Role.COMMANDER: EVERYWHERE,
    Role.ADMIN: EVERYWHERE,
}


def _record(engine: Engine, lon: float, lat: float, department: str | None = None) -> str:
    """An incident (and its case) at the point, written as the worker would."""
    event = Event.model_validate_json(json.dumps(event_body(lon, lat, category=CATEGORY)))
    located = stages.locate([stages.Decoded(Received.stamp(event, datetime.now(UTC)), 0, 0)], Locator(engine).index())
    write_events(engine, located)
    if department:
        with engine.begin() as conn:
            conn.execute(text('UPDATE "case" SET department = :d WHERE id = :id'), {"d": department, "id": event.id})
    return str(event.id)


@dataclass
class City:
    """Where objects inside and outside each role's scope are."""

    engine: Engine
    inside_point: tuple[float, float]  # in GRID
    other_street_point: tuple[float, float]  # in the district, not in GRID's street
    nowhere_point: tuple[float, float] = (116.4, 39.9)  # in no grid of the demo city

    def case(self, role: Role, inside: bool) -> str:
        """A fresh case the role sees (``inside``) or does not."""
        if role is Role.DEPARTMENT:
            return _record(self.engine, *self.inside_point, DEPARTMENT if inside else "公安分局")
        if inside:
            return _record(self.engine, *self.inside_point)
        return _record(self.engine, *(self.nowhere_point if role is Role.DISTRICT else self.other_street_point))

    def area(self, role: Role, inside: bool) -> str:
        """An area code inside or outside the role's area."""
        if inside:
            return GRID if role in (Role.DEPARTMENT, Role.COMMANDER, Role.ADMIN) else SCOPES[role]
        return "329999" if role is Role.DISTRICT else "321111002"


@dataclass(frozen=True)
class Call:
    """How to call a route for a role with an object inside or outside its scope, and what allowed looks like."""

    request: Callable[[City, Role, str, bool], tuple[str, str, dict[str, Any]]]
    ok: int = 200
    scoped: bool = True  # False: the route has no object that belongs to a scope
    denied: int = 404  # the answer for an object outside the caller's scope
    check: Callable[[httpx.Response, bool, dict[str, Any]], None] | None = None


def _path(template: str) -> Callable[[City, Role, str, bool], tuple[str, str, dict[str, Any]]]:
    def build(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
        case = city.case(role, inside) if "{id}" in template else ""
        area = city.area(role, inside)
        return "GET", template.format(id=case, area=area), {}

    return build


def _plain(method: str, path: str, **kwargs: Any) -> Callable[[City, Role, str, bool], tuple[str, str, dict[str, Any]]]:
    return lambda city, role, user, inside: (method, path, kwargs)


def _event(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    # Outside the caller's scope here: an event posted in someone else's name.
    return "POST", "/v1/events", {"json": event_body(*city.inside_point, reporter=user if inside else "someone-else")}


def _batch(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    _, path, kwargs = _event(city, role, user, inside)
    return "POST", "/v1/events/batch", {"json": {"events": [kwargs["json"]]}}


def _transition(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    return "POST", f"/v1/cases/{city.case(role, inside)}/transitions", {"json": {"action": "accept"}}


def _cases_listed(response: httpx.Response, visible: bool, kwargs: dict[str, Any]) -> None:
    assert response.status_code == 200
    assert (kwargs["_case"] in {c["id"] for c in response.json()["cases"]}) is visible


def _list_cases(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    case = city.case(role, inside)
    with city.engine.connect() as conn:
        place = conn.execute(text("SELECT coalesce(grid_code, '') FROM \"case\" WHERE id = :id"), {"id": case}).scalar()
    params = {"category": CATEGORY, "state": "reported", "limit": 500} | ({"area": place} if place else {})
    return "GET", "/v1/cases", {"params": params, "_case": case}


def _new_user(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    body = {"username": f"u-{uuid.uuid4().hex[:10]}", "password": "password-1", "role": "street", "scope": GRID[:9]}
    return "POST", "/v1/users", {"json": body}


def _disable(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    with city.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO app_user (username, password_hash, role, scope) VALUES (:u, 'x', 'street', :s)"),
            {"u": (name := f"d-{uuid.uuid4().hex[:10]}"), "s": GRID[:9]},
        )
    return "POST", f"/v1/users/{name}/disable", {}


CALLS: dict[str, Call] = {
    "GET /health": Call(_plain("GET", "/health"), scoped=False),
    "POST /v1/token": Call(
        lambda city, role, user, inside: ("POST", "/v1/token", {"data": {"username": user, "password": TEST_PASSWORD}}),
        scoped=False,
    ),
    "GET /login": Call(_plain("GET", "/login"), scoped=False),
    "POST /login": Call(
        lambda city, role, user, inside: ("POST", "/login", {"data": {"username": user, "password": TEST_PASSWORD}}),
        ok=303,
        scoped=False,
    ),
    "POST /logout": Call(_plain("POST", "/logout"), ok=303, scoped=False),
    "GET /v1/me": Call(_plain("GET", "/v1/me"), scoped=False),
    "GET /v1/categories": Call(_plain("GET", "/v1/categories"), scoped=False),
    "GET /v1/areas/{code}": Call(_path("/v1/areas/321111001"), scoped=False),  # boundaries are reference data
    "GET /v1/areas/{code}/children": Call(_path("/v1/areas/321111001/children"), scoped=False),
    "GET /v1/locate": Call(_plain("GET", "/v1/locate", params={"lon": 119.43, "lat": 32.2}), scoped=False),
    "POST /v1/events": Call(_event, ok=202, denied=403),
    "POST /v1/events/batch": Call(_batch, ok=202, denied=403),
    "GET /v1/events/{event_id}": Call(_path("/v1/events/{id}")),
    "GET /v1/cases": Call(_list_cases, check=_cases_listed),
    "GET /v1/cases/{case_id}": Call(_path("/v1/cases/{id}")),
    "POST /v1/cases/{case_id}/transitions": Call(_transition),
    "GET /v1/indicators": Call(
        lambda city, role, user, inside: (
            "GET",
            "/v1/indicators",
            {"params": {"area": city.area(role, inside), "from": "2026-11-01", "to": "2026-11-02"}},
        )
    ),
    "GET /map": Call(_path("/map?area={area}")),
    "GET /escalations": Call(_path("/escalations?area={area}")),
    "GET /v1/map/grids": Call(_path("/v1/map/grids?area={area}")),
    "GET /v1/map/heat": Call(_path("/v1/map/heat?area={area}")),
    "GET /v1/map/escalations": Call(_path("/v1/map/escalations?area={area}")),
    "GET /v1/live": Call(_path("/v1/live?area={area}")),
    "GET /v1/users": Call(_plain("GET", "/v1/users"), scoped=False),
    "POST /v1/users": Call(_new_user, ok=201, scoped=False),
    "POST /v1/users/{username}/disable": Call(_disable, scoped=False),
}


def test_every_route_has_a_rule_and_a_call_here(settings: Settings) -> None:
    routes = set(route_keys(create_app(settings))) - {"GET /openapi.json", "GET /docs", "GET /redoc"}
    routes -= {"GET /docs/oauth2-redirect"}
    assert routes == set(POLICY), "add the route to api.access.POLICY"
    assert set(CALLS) == set(POLICY), "add the route to CALLS in this test"


@pytest.fixture(scope="module")
def server(settings: Settings, demo_city: Engine) -> Iterator[str]:
    with serve(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def city(demo_city: Engine) -> City:
    inside = grid_point(demo_city, 0)
    assert inside[0] == GRID
    other = next(p for p in (grid_point(demo_city, i) for i in range(0, 334, 20)) if not p[0].startswith(GRID[:9]))
    return City(demo_city, inside[1:], other[1:])


def _send(client: httpx.Client, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
    kwargs = {k: v for k, v in kwargs.items() if not k.startswith("_")}
    if path.startswith("/v1/live"):
        with client.stream(method, path, **kwargs) as response:
            if response.status_code == 200:
                assert next(response.iter_lines()).startswith("retry:")
            return response
    return client.request(method, path, **kwargs)


@pytest.mark.parametrize("role", list(Role))
def test_route_by_role_inside_and_outside_the_scope(
    role: Role, server: str, city: City, sign_in: SignIn, settings: Settings
) -> None:
    user = f"matrix-{role.value}"
    headers = sign_in(user, role, SCOPES[role])
    outcomes: list[str] = []
    with httpx.Client(base_url=server, headers=headers, timeout=30, follow_redirects=False) as client:
        for key, call in CALLS.items():
            allowed = POLICY[key] == PUBLIC or role in POLICY[key]
            sees_all = role in (Role.COMMANDER, Role.ADMIN)
            cases = [True] if not call.scoped else [True, False]
            for inside in cases:
                method, path, kwargs = call.request(city, role, user, inside)
                response = _send(client, method, path, kwargs)
                if not allowed:
                    expected = 403
                elif inside or sees_all:
                    expected = call.ok
                else:
                    expected = call.denied
                if call.check and allowed:
                    call.check(response, inside or sees_all, kwargs)
                    continue
                if response.status_code != expected:
                    outcomes.append(f"{key} {'inside' if inside else 'outside'}: {response.status_code} != {expected}")
                    outcomes.append(f"    {response.text[:200]}")
            if POLICY[key] != PUBLIC:  # and without a token, nobody gets in
                method, path, kwargs = call.request(city, role, user, True)
                anonymous = httpx.request(method, server + path, **{k: v for k, v in kwargs.items() if k[0] != "_"})
                if anonymous.status_code != 401:
                    outcomes.append(f"{key} without a token: {anonymous.status_code} != 401")
    assert outcomes == [], "\n".join(outcomes)
