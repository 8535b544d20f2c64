"""Every route × every role × an object inside and outside the caller's scope, on the real services.

A route missing from ``CALLS`` fails the run, as does a route missing from ``api.access.POLICY``.
"""

import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import shapely
from PIL import Image
from sqlalchemy import Engine, text

from api.access import EVERYWHERE, POLICY, PUBLIC, Role
from api.app import create_app, route_keys
from api.settings import Settings
from geo.locator import Locator
from registers.ids import check_digit
from registers.protect import Protector
from registers.rows import BuildingRow, PersonRow
from registers.store import import_buildings, import_people
from streams import stages
from streams.schema import Event, Received
from streams.writer import write_events
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.server import serve

GRID = "321111001001001"  # every area scope below contains this grid
DEPARTMENT = "区城市管理局"
CATEGORY = "8404"  # used by no other test, so a listing holds only this test's cases
SCOPES = {
    Role.GRIDWORKER: GRID,
    Role.COMMUNITY: GRID[:12],
    Role.STREET: GRID[:9],
    Role.DISTRICT: GRID[:6],
    Role.DEPARTMENT: DEPARTMENT,
    Role.COMMANDER: EVERYWHERE,
    Role.ADMIN: EVERYWHERE,
    Role.RESIDENT: GRID[:12],
    Role.VOLUNTEER: GRID[:12],
    Role.OWNER: "ZS" + GRID[:12] + "901",  # a park's management: sees the cases in its special grid
    Role.BUILDING_HEAD: GRID + "499",  # a building of GRID, at the inside point
}
HELPER = "matrix-helper"  # a volunteer of GRID's community that supervisors dispatch to
API_KEY = "matrix-open311-key"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    return out.getvalue()


PNG = _png()


def _record(
    engine: Engine,
    lon: float,
    lat: float,
    department: str | None = None,
    *,
    reporter: str = "gw-test",
    state: str | None = None,
    assignee: str | None = None,
    special: str | None = None,
) -> str:
    """An incident, or a request when a state is given, with its case, written as the worker would."""
    body = event_body(lon, lat, category=CATEGORY, reporter=reporter)
    if state:
        now = datetime.now(UTC)
        window = {"start": now.isoformat(), "end": (now + timedelta(hours=4)).isoformat()}
        body |= {"kind": "request", "category": "9101", "window": window}
    event = Event.model_validate_json(json.dumps(body))
    located = stages.locate([stages.Decoded(Received.stamp(event, datetime.now(UTC)), 0, 0)], Locator(engine).index())
    write_events(engine, located)
    with engine.begin() as conn:
        conn.execute(
            text(
                'UPDATE "case" SET department = coalesce(:d, department), state = coalesce(:s, state),'
                " assignee = :a, special_code = :special WHERE id = :id"
            ),
            {"d": department, "s": state, "a": assignee, "special": special, "id": event.id},
        )
        conn.execute(
            text("UPDATE event SET special_code = :special WHERE id = :id"), {"special": special, "id": event.id}
        )
    return str(event.id)


@dataclass
class City:
    """Where objects inside and outside each role's scope are."""

    engine: Engine
    inside_point: tuple[float, float]  # in GRID
    other_street_point: tuple[float, float]  # in the district, not in GRID's street
    other_grid: str  # the grid of that point
    protector: Protector
    serial: int = 0
    nowhere_point: tuple[float, float] = (116.4, 39.9)  # in no grid of the demo city

    def case(self, role: Role, inside: bool) -> str:
        """A fresh case the role sees (``inside``) or does not."""
        if role is Role.DEPARTMENT:
            return _record(self.engine, *self.inside_point, DEPARTMENT if inside else "公安分局")
        if role is Role.OWNER:
            return _record(
                self.engine, *self.inside_point, special=SCOPES[role] if inside else "ZS" + GRID[:12] + "902"
            )
        if inside:
            return _record(self.engine, *self.inside_point)
        return _record(self.engine, *(self.nowhere_point if role is Role.DISTRICT else self.other_street_point))

    def request(self, role: Role, user: str, inside: bool, state: str = "reported") -> str:
        """A fresh request the role sees (``inside``: asked by the resident, given to the volunteer) or not."""
        assignee = HELPER if state != "reported" else None
        if role is Role.RESIDENT:
            return _record(self.engine, *self.inside_point, reporter=user if inside else "someone", state=state)
        if role is Role.VOLUNTEER:
            who = user if inside else "another-volunteer"
            return _record(self.engine, *self.inside_point, state=state, assignee=who)
        point = (
            self.inside_point if inside else self.nowhere_point if role is Role.DISTRICT else self.other_street_point
        )
        return _record(self.engine, *point, state=state, assignee=assignee)

    def event(self, role: Role, user: str, inside: bool) -> str:
        """An event the role may attach photos to (residents and volunteers: a request of theirs)."""
        if role in (Role.RESIDENT, Role.VOLUNTEER):
            return self.request(role, user, inside, "dispatched")
        return self.case(role, inside)

    def photo(self, event_id: str) -> str:
        """A photo on the event; its hash."""
        digest = hashlib.sha256(PNG).hexdigest()
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO photo (event_id, event_occurred_at, sha256, stage, media_type, bytes, width, height,"
                    " flags, uploaded_by, content) SELECT :e, occurred_at, :h, 'before', 'image/png', :n, 4, 4, '{}',"
                    " 'matrix', :c FROM event WHERE id = :e"
                ),
                {"e": event_id, "h": digest, "n": len(PNG), "c": PNG},
            )
        return digest

    def open311_request(self) -> str:
        """A request as an Open311 client posted it."""
        request_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO open311_request (id, client, service_code, description, lat, lon, contact,"
                    " requested_at) VALUES (:id, 'matrix', '0102', '', 32.2, 119.43, '{}', now())"
                ),
                {"id": request_id},
            )
        return request_id

    def grid(self, role: Role, inside: bool) -> str:
        """A grid inside the role's area, or outside it (for a district: a grid of another district)."""
        if inside:
            return GRID
        return "329999001001001" if role is Role.DISTRICT else self.other_grid

    def household(self, role: Role, inside: bool) -> tuple[str, int, str]:
        """A fresh household of one person in a grid inside or outside the role's area: ids and ID number."""
        self.serial += 1
        grid = self.grid(role, inside)
        building = SCOPES[role] if role is Role.BUILDING_HEAD and inside else f"{grid}{500 + self.serial % 400:03d}"
        person = PersonRow(
            0,
            "矩阵",
            self.id_number(),
            None,
            date(1950, 1, 1),
            "户主",
            building,
            "",
            f"{self.serial}",
            None,
            (),
        )
        point = self.inside_point if inside else self.other_street_point
        with self.engine.begin() as conn:
            import_buildings(conn, [BuildingRow(0, person.building, grid, "矩阵楼", None, shapely.Point(*point))])
            import_people(conn, [person], self.protector)
            person_id = conn.execute(
                text("SELECT id FROM person WHERE household_id = :h"), {"h": person.household_id}
            ).scalar_one()
        return person.household_id, person_id, person.id_number

    def id_number(self) -> str:
        """A fresh ID number."""
        self.serial += 1
        first17 = f"110105{date(1950, 1, 1) + timedelta(days=self.serial):%Y%m%d}{self.serial % 1000:03d}"
        return first17 + check_digit(first17)

    def proposal(self, role: Role, inside: bool) -> int:
        """A gridworker's proposed change (tags) to a person inside or outside the role's area: its id."""
        household, person, _ = self.household(role, inside)
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    text(
                        "INSERT INTO register_change (client_id, kind, grid_code, household_id, person_id, details,"
                        " reason, state, proposed_by) VALUES (gen_random_uuid(), 'tags', :grid, :h, :p,"
                        " CAST(:details AS jsonb), '核实', 'proposed', 'matrix-gw') RETURNING id"
                    ),
                    {
                        "grid": self.grid(role, inside),
                        "h": household,
                        "p": person,
                        "details": f'{{"person": {person}, "tags": []}}',
                    },
                ).scalar_one()
            )

    def register_import(self, user: str, inside: bool) -> str:
        """A finished import by ``user`` (inside) or by someone else: its id."""
        with self.engine.begin() as conn:
            return str(
                conn.execute(
                    text(
                        "INSERT INTO register_import (id, actor, kind, filename, state, report) VALUES"
                        " (gen_random_uuid(), :actor, 'people', 'p.csv', 'done', CAST(:report AS jsonb)) RETURNING id"
                    ),
                    {"actor": user if inside else "someone-else", "report": '{"problems": [], "more": 0}'},
                ).scalar_one()
            )

    def gridworker(self, role: Role, user: str, inside: bool) -> str:
        """A gridworker whose work log the role may read (inside) or not."""
        if role is Role.GRIDWORKER:
            return user if inside else "matrix-gw-elsewhere"
        name = "matrix-gw-here" if inside else f"matrix-gw-{self.grid(role, False)}"
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO app_user (username, password_hash, role, scope) VALUES (:u, 'x', 'gridworker', :s)"
                    " ON CONFLICT (username) DO NOTHING"
                ),
                {"u": name, "s": self.grid(role, inside)},
            )
        return name

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
    case = city.case(role, inside)
    with city.engine.begin() as conn:  # taken in: anyone who may act on cases may sign for it
        conn.execute(text("UPDATE \"case\" SET state = 'filed' WHERE id = :id"), {"id": case})
    return "POST", f"/v1/cases/{case}/transitions", {"json": {"action": "accept"}}


def _unit(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    return "POST", f"/v1/cases/{city.case(role, inside)}/unit", {"json": {"unit": DEPARTMENT, "reason": "属城管职责"}}


def _cases_listed(response: httpx.Response, visible: bool, kwargs: dict[str, Any]) -> None:
    assert response.status_code == 200
    assert (kwargs["_case"] in {c["id"] for c in response.json()["cases"]}) is visible


def _list_cases(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    case = city.case(role, inside)
    with city.engine.connect() as conn:
        place = conn.execute(text("SELECT coalesce(grid_code, '') FROM \"case\" WHERE id = :id"), {"id": case}).scalar()
    params = {"category": CATEGORY, "state": "reported", "limit": 500} | ({"area": place} if place else {})
    return "GET", "/v1/cases", {"params": params, "_case": case}


def _request_action(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    if role is Role.VOLUNTEER:
        request_id, body = city.request(role, user, inside, "dispatched"), {"action": "accept"}
    else:
        request_id, body = city.request(role, user, inside), {"action": "dispatch", "volunteer": HELPER}
    return "POST", f"/v1/requests/{request_id}/transitions", {"json": body}


def _rating(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    request_id = city.request(role, user, inside, "resolved")
    return "POST", f"/v1/requests/{request_id}/rating", {"json": {"score": 4, "comment": "及时"}}


def _new_request(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    now = datetime.now(UTC)
    body = {
        "id": str(uuid.uuid4()),
        "service": "9102",
        "location": {"lon": city.inside_point[0], "lat": city.inside_point[1], "crs": "wgs84"},
        "window": {"start": now.isoformat(), "end": (now + timedelta(hours=3)).isoformat()},
    }
    return "POST", "/v1/requests", {"json": body}


def _list_requests(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    request_id = city.request(role, user, inside)
    return "GET", "/v1/requests", {"params": {"state": "reported", "limit": 500}, "_case": request_id}


def _requests_listed(response: httpx.Response, visible: bool, kwargs: dict[str, Any]) -> None:
    assert response.status_code == 200
    assert (kwargs["_case"] in {r["id"] for r in response.json()["requests"]}) is visible


def _volunteers(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    code = GRID[:12] if inside else "329999001001" if role is Role.DISTRICT else "321111002001"
    return "GET", f"/v1/communities/{code}/volunteers", {}


def _photo_post(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    event_id = city.event(role, user, inside)
    return "POST", f"/v1/events/{event_id}/photos", {"content": PNG, "headers": {"Content-Type": "image/png"}}


def _photo_list(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    return "GET", f"/v1/events/{city.event(role, user, inside)}/photos", {}


def _photo_get(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    event_id = city.event(role, user, inside)
    return "GET", f"/v1/events/{event_id}/photos/{city.photo(event_id)}", {}


def _open311_post(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    form = {"api_key": API_KEY, "service_code": "0102", "lat": "32.2", "long": "119.43", "email": "a@b.cn"}
    return "POST", "/open311/v2/requests.json", {"data": form}


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


def _household(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    return "GET", f"/v1/households/{city.household(role, inside)[0]}", {"_role": role}


def _masked_unless_its_staff(response: httpx.Response, visible: bool, kwargs: dict[str, Any]) -> None:
    """Seen in scope, and unmasked for the grid's gridworker and its community's supervisors alone."""
    assert response.status_code == (200 if visible else 404)
    if visible:
        masked = {p["masked"] for p in response.json()["people"]}
        assert masked == {kwargs["_role"] not in (Role.GRIDWORKER, Role.COMMUNITY)}


def _search(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    _, person_id, id_number = city.household(role, inside)
    return "POST", "/v1/people/search", {"json": {"id_number": id_number}, "_person": person_id}


def _found(response: httpx.Response, visible: bool, kwargs: dict[str, Any]) -> None:
    assert response.status_code == 200
    assert ([p["id"] for p in response.json()["people"]] == [kwargs["_person"]]) is visible


def _change(
    what: str, method: str = "POST", **body: Any
) -> Callable[[City, Role, str, bool], tuple[str, str, dict[str, Any]]]:
    """A change to a fresh household (``{h}``) or its person (``{p}``); ``{b}`` its building, ``{s}`` a serial."""

    def build(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
        household, person, _ = city.household(role, inside)
        names = {"h": household, "p": person, "b": household.split("-")[0], "s": city.serial}
        filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
        if "people" in filled:
            filled["people"] = [person]
        if filled.get("id_number") == "new":
            filled["id_number"] = city.id_number()
        if filled.get("into") == "other":
            filled["into"] = city.household(role, inside)[0]
        json = {"client_id": str(uuid.uuid4()), "reason": "核实"} | filled
        return method, what.format(**names), {"json": json}

    return build


def _note(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    return "PUT", f"/v1/worklogs/{user if inside else 'someone-else'}/2026-11-30/note", {"json": {"note": "巡查"}}


def _closed_late(city: City, role: Role, inside: bool, appellant: str | None = None) -> str:
    """A case the role sees (or not) that closed late a minute ago; with a pending appeal by ``appellant``."""
    case = city.case(role, inside)
    with city.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE \"case\" SET state = 'closed', closed_at = now() - interval '1 minute',"
                " closed_on_time = false WHERE id = :id"
            ),
            {"id": case},
        )
        if appellant:
            conn.execute(
                text("INSERT INTO appeal (case_id, appellant, reason, asked_at) VALUES (:id, :who, '暴雨', now())"),
                {"id": case, "who": appellant},
            )
    return case


def _appeal(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    return "POST", f"/v1/cases/{_closed_late(city, role, inside)}/appeal", {"json": {"reason": "暴雨，道路封闭"}}


def _decision(city: City, role: Role, user: str, inside: bool) -> tuple[str, str, dict[str, Any]]:
    case = _closed_late(city, role, inside, appellant="matrix-appellant")
    return "POST", f"/v1/cases/{case}/appeal/decision", {"json": {"upheld": True, "note": "属实"}, "_role": role}


def _decided(response: httpx.Response, visible: bool, kwargs: dict[str, Any]) -> None:
    # The shipped rules leave appeals to the district: a street supervisor who sees the case gets 409.
    expected = (200 if kwargs["_role"] is Role.DISTRICT else 409) if visible else 404
    assert response.status_code == expected, response.text


CALLS: dict[str, Call] = {
    "GET /health": Call(_plain("GET", "/health"), scoped=False),
    "GET /metrics": Call(_plain("GET", "/metrics"), scoped=False),
    "POST /v1/token": Call(
        lambda city, role, user, inside: ("POST", "/v1/token", {"data": {"username": user, "password": TEST_PASSWORD}}),
        scoped=False,
    ),
    "GET /login": Call(_plain("GET", "/login"), scoped=False),
    "GET /favicon.ico": Call(_plain("GET", "/favicon.ico"), scoped=False),
    "POST /login": Call(
        lambda city, role, user, inside: ("POST", "/login", {"data": {"username": user, "password": TEST_PASSWORD}}),
        ok=303,
        scoped=False,
    ),
    "POST /logout": Call(_plain("POST", "/logout"), ok=303, scoped=False),
    "GET /v1/me": Call(_plain("GET", "/v1/me"), scoped=False),
    "GET /app": Call(_plain("GET", "/app"), ok=307, scoped=False),
    "GET /app/": Call(_plain("GET", "/app/"), scoped=False),
    "GET /app/sw.js": Call(_plain("GET", "/app/sw.js"), scoped=False),
    "GET /app/manifest.webmanifest": Call(_plain("GET", "/app/manifest.webmanifest"), scoped=False),
    "GET /app/lib/{name}": Call(_plain("GET", "/app/lib/dexie.min.js"), scoped=False),
    "GET /v1/me/grid": Call(_plain("GET", "/v1/me/grid"), scoped=False),  # always one's own
    "GET /v1/me/cases": Call(_plain("GET", "/v1/me/cases"), scoped=False),
    "GET /v1/me/reports": Call(_plain("GET", "/v1/me/reports"), scoped=False),
    "GET /v1/categories": Call(_plain("GET", "/v1/categories"), scoped=False),
    "GET /v1/areas/{code}": Call(_path("/v1/areas/321111001"), scoped=False),  # boundaries are reference data
    "GET /v1/areas/{code}/children": Call(_path("/v1/areas/321111001/children"), scoped=False),
    "GET /v1/locate": Call(_plain("GET", "/v1/locate", params={"lon": 119.43, "lat": 32.2}), scoped=False),
    "POST /v1/events": Call(_event, ok=202, denied=403),
    "POST /v1/events/batch": Call(_batch, ok=202, denied=403),
    "GET /v1/events/{event_id}": Call(_path("/v1/events/{id}")),
    "GET /v1/cases": Call(_list_cases, check=_cases_listed),
    "GET /v1/cases/{case_id}": Call(_path("/v1/cases/{id}")),
    "GET /v1/cases/{case_id}/duplicates": Call(_path("/v1/cases/{id}/duplicates")),
    "GET /v1/cases/{case_id}/actions": Call(_path("/v1/cases/{id}/actions")),
    "GET /v1/cases/{case_id}/text": Call(_path("/v1/cases/{id}/text?purpose=核实")),
    "POST /v1/cases/{case_id}/transitions": Call(_transition),
    "POST /v1/cases/{case_id}/appeal": Call(_appeal, ok=201),
    "POST /v1/cases/{case_id}/appeal/decision": Call(_decision, check=_decided),
    "GET /v1/appeals": Call(_path("/v1/appeals?area={area}")),
    "GET /v1/indicators": Call(
        lambda city, role, user, inside: (
            "GET",
            "/v1/indicators",
            {"params": {"area": city.area(role, inside), "from": "2026-11-01", "to": "2026-11-02"}},
        )
    ),
    "GET /v1/indicators/backlog": Call(_path("/v1/indicators/backlog?area={area}")),
    "GET /v1/indicators/daily": Call(_path("/v1/indicators/daily?area={area}&from=2026-11-01&to=2026-11-07")),
    "GET /v1/indicators/categories": Call(_path("/v1/indicators/categories?area={area}&from=2026-11-01&to=2026-11-07")),
    "GET /v1/reports/monthly": Call(_path("/v1/reports/monthly?area={area}&month=2026-11")),
    "GET /v1/exchange/cases": Call(_path("/v1/exchange/cases?area={area}&from=2026-11-01&to=2026-11-30&format=csv")),
    "GET /work/reports/monthly": Call(_path("/work/reports/monthly?area={area}&month=2026-11")),
    "GET /screen": Call(_path("/screen?area={area}")),
    "GET /work": Call(_plain("GET", "/work"), scoped=False),
    "GET /work/cases/{case_id}": Call(_path("/work/cases/{id}")),
    "GET /v1/work/queue": Call(_plain("GET", "/v1/work/queue"), scoped=False),
    "GET /v1/work/search": Call(_plain("GET", "/v1/work/search?q=1111"), scoped=False),
    "GET /map": Call(_path("/map?area={area}")),
    "GET /escalations": Call(_path("/escalations?area={area}")),
    "GET /v1/map/grids": Call(_path("/v1/map/grids?area={area}")),
    "GET /v1/map/values": Call(_path("/v1/map/values?area={area}")),
    "GET /v1/map/tiles/{z}/{x}/{y}.mvt": Call(_path("/v1/map/tiles/14/13647/6616.mvt?area={area}")),
    "GET /v1/map/components/{z}/{x}/{y}.mvt": Call(_path("/v1/map/components/16/54590/26465.mvt?area={area}")),
    "GET /v1/components/near": Call(
        _plain("GET", "/v1/components/near", params={"lon": 119.43, "lat": 32.2, "category": "BJ0116"}), scoped=False
    ),
    "POST /v1/cases/{case_id}/unit": Call(_unit),
    "GET /v1/map/overlays/{layer}": Call(_path("/v1/map/overlays/special?area={area}")),
    "GET /v1/map/heat": Call(_path("/v1/map/heat?area={area}")),
    "GET /v1/map/escalations": Call(_path("/v1/map/escalations?area={area}")),
    "GET /v1/live": Call(_path("/v1/live?area={area}")),
    "GET /v1/work/live": Call(_plain("GET", "/v1/work/live"), scoped=False),
    "POST /v1/requests": Call(_new_request, ok=202, scoped=False),
    "GET /v1/requests": Call(_list_requests, check=_requests_listed),
    "GET /v1/requests/{request_id}": Call(
        lambda city, role, user, inside: ("GET", f"/v1/requests/{city.request(role, user, inside)}", {})
    ),
    "POST /v1/requests/{request_id}/transitions": Call(_request_action),
    "POST /v1/requests/{request_id}/rating": Call(_rating),
    "GET /v1/communities/{code}/volunteers": Call(_volunteers),
    "POST /v1/events/{event_id}/photos": Call(_photo_post, ok=201),
    "GET /v1/events/{event_id}/photos": Call(_photo_list),
    "GET /v1/events/{event_id}/photos/{sha256}": Call(_photo_get),
    "GET /open311/v2/discovery.{fmt}": Call(_plain("GET", "/open311/v2/discovery.json"), scoped=False),
    "GET /open311/v2/services.{fmt}": Call(_plain("GET", "/open311/v2/services.xml"), scoped=False),
    "GET /open311/v2/services/{service_code}.{fmt}": Call(
        _plain("GET", "/open311/v2/services/0102.json"), scoped=False
    ),
    "POST /open311/v2/requests.{fmt}": Call(_open311_post, ok=201, scoped=False),
    "GET /open311/v2/requests.{fmt}": Call(_plain("GET", "/open311/v2/requests.json"), scoped=False),
    "GET /open311/v2/requests/{service_request_id}.{fmt}": Call(
        lambda city, role, user, inside: ("GET", f"/open311/v2/requests/{city.open311_request()}.xml", {}),
        scoped=False,
    ),
    "GET /v1/households/{household_id}": Call(_household, check=_masked_unless_its_staff),
    "GET /v1/people/{person_id}": Call(
        lambda city, role, user, inside: ("GET", f"/v1/people/{city.household(role, inside)[1]}", {})
    ),
    "POST /v1/people/search": Call(_search, check=_found),
    "GET /v1/grids/{grid}/buildings": Call(
        lambda city, role, user, inside: ("GET", f"/v1/grids/{city.grid(role, inside)}/buildings", {})
    ),
    "GET /v1/buildings/{code}": Call(
        lambda city, role, user, inside: ("GET", f"/v1/buildings/{city.household(role, inside)[0][:18]}", {})
    ),
    "POST /v1/households/{household_id}/people": Call(
        _change("/v1/households/{h}/people", name="新生", id_number="new", relation="子"), denied=403
    ),
    "POST /v1/people/{person_id}/move": Call(_change("/v1/people/{p}/move", into="{b}-1-9{s}"), denied=403),
    "POST /v1/people/{person_id}/leave": Call(
        _change("/v1/people/{p}/leave", why="moved_away", on="2026-12-01"), denied=403
    ),
    "PUT /v1/people/{person_id}/tags": Call(_change("/v1/people/{p}/tags", "PUT", tags=[]), denied=403),
    "POST /v1/households/{household_id}/split": Call(
        _change("/v1/households/{h}/split", people=[], into="{b}-2-9{s}"), denied=403
    ),
    "POST /v1/households/{household_id}/merge": Call(_change("/v1/households/{h}/merge", into="other"), denied=403),
    "GET /v1/register-changes": Call(_plain("GET", "/v1/register-changes"), scoped=False),
    "POST /v1/register-changes/{change_id}/decision": Call(
        lambda city, role, user, inside: (
            "POST",
            f"/v1/register-changes/{city.proposal(role, inside)}/decision",
            {"json": {"approve": True}},
        )
    ),
    "GET /work/registers": Call(_plain("GET", "/work/registers"), scoped=False),
    "GET /work/registers/buildings/{code}": Call(
        lambda city, role, user, inside: (
            "GET",
            f"/work/registers/buildings/{city.household(role, inside)[0][:18]}",
            {},
        )
    ),
    "GET /work/registers/households/{household_id}": Call(
        lambda city, role, user, inside: ("GET", f"/work/registers/households/{city.household(role, inside)[0]}", {})
    ),
    "GET /work/registers/people/{person_id}": Call(
        lambda city, role, user, inside: ("GET", f"/work/registers/people/{city.household(role, inside)[1]}", {})
    ),
    "GET /work/registers/changes": Call(_plain("GET", "/work/registers/changes"), scoped=False),
    "GET /work/registers/import": Call(_plain("GET", "/work/registers/import"), scoped=False),
    "POST /v1/register-imports": Call(
        _plain(
            "POST",
            "/v1/register-imports",
            params={"kind": "buildings", "filename": "b.csv"},
            content="楼栋编码,网格,楼栋名称,经度,纬度\n".encode(),
        ),
        ok=202,
        scoped=False,
    ),
    "GET /v1/register-imports/{import_id}": Call(
        lambda city, role, user, inside: ("GET", f"/v1/register-imports/{city.register_import(user, inside)}", {})
    ),
    "GET /v1/register-imports/{import_id}/report.csv": Call(
        lambda city, role, user, inside: (
            "GET",
            f"/v1/register-imports/{city.register_import(user, inside)}/report.csv",
            {},
        )
    ),
    "GET /v1/pii-access": Call(_plain("GET", "/v1/pii-access"), scoped=False),
    "GET /v1/visits/due": Call(_path("/v1/visits/due?area={area}")),
    "GET /v1/visits/coverage": Call(_path("/v1/visits/coverage?area={area}")),
    "GET /v1/worklogs/{username}/{day}": Call(
        lambda city, role, user, inside: ("GET", f"/v1/worklogs/{city.gridworker(role, user, inside)}/2026-11-30", {})
    ),
    "PUT /v1/worklogs/{username}/{day}/note": Call(_note, ok=204, denied=403),
    "GET /v1/closeouts/{community}/{week}": Call(
        lambda city, role, user, inside: ("GET", f"/v1/closeouts/{city.grid(role, inside)[:12]}/2026-W48", {})
    ),
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
def city(demo_city: Engine, sign_in: SignIn, settings: Settings) -> City:
    sign_in(HELPER, Role.VOLUNTEER, GRID[:12])
    with demo_city.begin() as conn:
        conn.execute(
            text("INSERT INTO api_client (name, key_sha256) VALUES ('matrix', :k) ON CONFLICT (name) DO NOTHING"),
            {"k": hashlib.sha256(API_KEY.encode()).hexdigest()},
        )
    inside = grid_point(demo_city, 0)
    assert inside[0] == GRID
    other = next(p for p in (grid_point(demo_city, i) for i in range(0, 334, 20)) if not p[0].startswith(GRID[:9]))
    with demo_city.begin() as conn:  # the building head's building
        head = BuildingRow(0, SCOPES[Role.BUILDING_HEAD], GRID, "楼栋长的楼", None, shapely.Point(*inside[1:]))
        import_buildings(conn, [head])
    return City(demo_city, inside[1:], other[1:], other[0], Protector(settings.registers.pii_key))


def _send(client: httpx.Client, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
    kwargs = {k: v for k, v in kwargs.items() if not k.startswith("_")}
    if path.startswith(("/v1/live", "/v1/work/live")):
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
