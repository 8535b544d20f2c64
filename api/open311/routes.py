"""Open311 GeoReport v2 for other city systems (12345 hotlines, citizen apps), in JSON and XML.

Services are the incident categories; a posted request becomes an incident on the same Kafka path
(located, cased, held to its SLA). ``jurisdiction_id`` is a district code. Posting needs an API key
(``gridgov open311 add-client``); reading is public and never shows the requester's contact details.
"""

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, text

from api.deps import EngineDep, IntakeDep, LocatorDep, RulesDep
from api.errors import Refusal, problems
from api.intake import Intake
from api.open311.clients import client_of
from api.open311.format import Format, render
from api.open311.reading import REQUESTS, request_json
from api.placement import current_index, in_served_area
from cases.categories import REQUEST_GROUP, ROUTINE_GROUP, Category, default_categories
from db.cells import ONE_LINE
from geo.areas import area_info
from geo.crs import CRS
from geo.grid_index import GridIndex
from registers.free_text import masked
from streams.producer import BrokerDown
from streams.schema import MAX_DESCRIPTION, SCHEMA_VERSION, Event, Kind, Location

PREFIX = "/open311/v2"
router = APIRouter(prefix=PREFIX, tags=["open311"])
MAX_RANGE = timedelta(days=90)
MAX_RESULTS = 1000
_BODY = {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}, "application/xml": {}}
OK: dict[int | str, dict[str, Any]] = {200: {"content": _BODY, "description": "JSON or XML, as the extension says"}}
OK_OBJECT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {"schema": {"type": "object"}}, "application/xml": {}},
        "description": "JSON or XML, as the extension says",
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"content": _BODY, "description": description}
    for code, description in (
        (400, "A parameter is missing or wrong: [{code, description}]"),
        (403, "The api_key is missing or not valid"),
        (404, "No such service, request or jurisdiction"),
        (422, "A parameter has the wrong type or form"),
        (503, "The database or the broker is unreachable; retry later"),
    )
}


def services() -> dict[str, Category]:
    """The categories other systems may report: every incident category."""
    return {c.code: c for c in default_categories().values() if c.group not in (ROUTINE_GROUP, REQUEST_GROUP)}


def _jurisdiction(conn: Connection, jurisdiction_id: str | None) -> None:
    if jurisdiction_id is None:
        return
    info = area_info(conn, jurisdiction_id) if len(jurisdiction_id) == 6 and jurisdiction_id.isdigit() else None
    if info is None:
        raise Refusal("not_found.jurisdiction", jurisdiction=jurisdiction_id)


Jurisdiction = Annotated[str | None, Query(max_length=16, pattern=ONE_LINE, description="A district code")]


@router.get("/discovery.{fmt}", responses={**OK_OBJECT, **ERRORS})
def discovery(fmt: Format, request: Request) -> Response:
    """Where the GeoReport v2 endpoint is and what it speaks."""
    base = str(request.base_url).rstrip("/") + PREFIX
    endpoint = {
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": base,
        "changeset": "2026-11-22T00:00:00+08:00",
        "type": "production",
        "formats": ["application/json", "text/xml"],
    }
    body = {
        "changeset": endpoint["changeset"],
        "contact": "gridgov",
        "key_service": "gridgov open311 add-client NAME",
        "endpoints": [endpoint],
    }
    return render(fmt, "discovery", body)


@router.get("/services.{fmt}", responses={**OK, **ERRORS})
def list_services(fmt: Format, engine: EngineDep, jurisdiction_id: Jurisdiction = None) -> Response:
    """The service types a request may have (the incident categories)."""
    with engine.connect() as conn:
        _jurisdiction(conn, jurisdiction_id)
    rows = [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": c.name_en,
            "metadata": len(c.conditions) > 1,  # its filing condition is an attribute
            "type": "realtime",
            "keywords": c.group,
            "group": c.group_name,
        }
        for c in services().values()
    ]
    return render(fmt, "services", rows)


@router.get("/services/{service_code}.{fmt}", responses={**OK_OBJECT, **ERRORS})
def service_definition(
    service_code: Annotated[str, Path(max_length=8)], fmt: Format, jurisdiction_id: Jurisdiction = None
) -> Response:
    """A service's extra attributes: its filing conditions (立案条件) as ``attribute[condition]``, where it has them.

    Required where there are several (``metadata`` true in the list); one alone is taken without asking.
    """
    if service_code not in services():
        raise Refusal("not_found.service", service=service_code, format=fmt)
    conditions = services()[service_code].conditions
    attributes = [
        {
            "variable": True,
            "code": "condition",
            "datatype": "singlevaluelist",
            "required": len(conditions) > 1,
            "datatype_description": "立案条件 · filing condition",
            "order": 1,
            "description": "立案条件",
            "values": [{"key": c.number, "name": c.text} for c in conditions],
        }
    ]
    return render(
        fmt, "service_definition", {"service_code": service_code, "attributes": attributes if conditions else []}
    )


def _number(value: str | None, name: str, low: float, high: float) -> float:
    try:
        number = float(value or "")
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        raise Refusal("bad_request.number", name=name, low=low, high=high)
    return number


def _event(
    request_id: uuid.UUID,
    code: str,
    now: datetime,
    lon: float,
    lat: float,
    client: str,
    description: str,
    media_url: str | None,
    condition: str | None = None,
) -> Event:
    return Event.model_validate(
        {
            "schema_version": SCHEMA_VERSION,
            "id": request_id,
            "kind": Kind.INCIDENT,
            "category": code,
            "occurred_at": now,
            "location": Location(lon=lon, lat=lat, crs=CRS.WGS84),
            "reporter": f"open311:{client}"[:64],
            "description": description,
            "attachments": [media_url] if media_url else [],
            **({"condition": condition} if condition else {}),
        },
        context={"now": now},
    )


def _post(engine: Engine, intake: Intake, index: GridIndex, form: dict[str, str | None]) -> str:
    for name, value in form.items():
        if value and "\x00" in value:
            raise Refusal("bad_request.nul", name=name)
    with engine.connect() as conn:
        client = client_of(conn, form["api_key"] or "")
        _jurisdiction(conn, form["jurisdiction_id"])
    code = form["service_code"] or ""
    if code not in services():
        raise Refusal("bad_request.service", service=code)
    lat = _number(form["lat"], "lat", -90, 90)
    lon = _number(form["long"], "long", -180, 180)
    description = form["description"] or ""
    if len(description) > MAX_DESCRIPTION:
        raise Refusal("bad_request.description", most=MAX_DESCRIPTION)
    now = datetime.now(UTC)
    request_id = uuid.uuid4()
    try:
        event = _event(request_id, code, now, lon, lat, client, description, form["media_url"], form["condition"])
    except ValidationError as exc:
        raise Refusal("bad_request.fields", problems(exc.errors(include_url=False))) from exc
    in_served_area(index, [event.location], ["lat/long"], "bad_request")
    contact = {k: form[k] for k in ("email", "first_name", "last_name", "phone", "device_id", "account_id") if form[k]}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO open311_request (id, client, service_code, description, lat, lon, address, media_url,"
                " contact, requested_at) VALUES (:id, :client, :code, :d, :lat, :lon, :address, :media,"
                " CAST(:contact AS jsonb), :at)"
            ),
            {
                "id": request_id,
                "client": client,
                "code": code,
                "d": masked(description),  # the event carries the original sealed
                "lat": lat,
                "lon": lon,
                "address": form["address_string"],
                "media": form["media_url"],
                "contact": json.dumps(contact, ensure_ascii=False),
                "at": now,
            },
        )
    try:
        intake.accept_now([event])
    except BrokerDown:
        with engine.begin() as conn:  # not accepted: leave nothing behind for the client's retry
            conn.execute(text("DELETE FROM open311_request WHERE id = :id"), {"id": request_id})
        raise
    return str(request_id)


FormField = Annotated[str | None, Form(max_length=MAX_DESCRIPTION)]


@router.post("/requests.{fmt}", status_code=201, responses={201: {"content": _BODY}, **ERRORS})
async def post_request(
    fmt: Format,
    engine: EngineDep,
    intake: IntakeDep,
    locator: LocatorDep,
    api_key: FormField = None,
    service_code: FormField = None,
    lat: FormField = None,
    long: FormField = None,
    jurisdiction_id: FormField = None,
    address_string: FormField = None,
    email: FormField = None,
    device_id: FormField = None,
    account_id: FormField = None,
    first_name: FormField = None,
    last_name: FormField = None,
    phone: FormField = None,
    description: FormField = None,
    media_url: FormField = None,
    condition: Annotated[str | None, Form(alias="attribute[condition]", max_length=2)] = None,
) -> Response:
    """Create a service request (form-encoded, as GeoReport v2 says); ``lat`` and ``long`` are required here."""
    form = {
        "api_key": api_key,
        "service_code": service_code,
        "lat": lat,
        "long": long,
        "jurisdiction_id": jurisdiction_id,
        "address_string": address_string,
        "email": email,
        "device_id": device_id,
        "account_id": account_id,
        "first_name": first_name,
        "last_name": last_name,
        "phone": phone,
        "description": description,
        "media_url": media_url,
        "condition": condition,
    }
    request_id = await run_in_threadpool(_post, engine, intake, await current_index(locator), form)
    notice = "已受理，按时限办理 · Accepted; it is located and held to its deadline"
    accepted = [{"service_request_id": request_id, "service_notice": notice, "account_id": account_id}]
    return render(fmt, "service_requests", accepted, 201)


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refusal("bad_request.datetime", name=name) from exc
    if when.tzinfo is None:
        raise Refusal("bad_request.timezone", name=name)
    return when


def _list(engine: Engine, where: list[str], params: dict[str, Any]) -> list[Any]:
    with engine.connect() as conn:
        _jurisdiction(conn, params.pop("jurisdiction", None))
        return list(
            conn.execute(
                text(f"{REQUESTS} WHERE {' AND '.join(where)} ORDER BY o.requested_at DESC LIMIT {MAX_RESULTS}"),
                params,
            ).all()
        )


Filter = Annotated[str | None, Query(max_length=4000, pattern=ONE_LINE)]


@router.get("/requests.{fmt}", responses={**OK, **ERRORS})
def list_requests(
    fmt: Format,
    engine: EngineDep,
    rules: RulesDep,
    service_request_id: Filter = None,
    service_code: Filter = None,
    start_date: Filter = None,
    end_date: Filter = None,
    status: Filter = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """Requests posted through Open311, newest first (at most 1,000; a range of at most 90 days)."""
    where = ["true"]
    params: dict[str, Any] = {"jurisdiction": jurisdiction_id}
    if jurisdiction_id:
        where.append("e.district_code = :district")
        params["district"] = jurisdiction_id
    if service_request_id:  # overrides every other filter, as the specification says
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()]
        try:
            params["ids"] = [str(uuid.UUID(i)) for i in ids]
        except ValueError as exc:
            raise Refusal("bad_request.ids") from exc
        where.append("o.id = ANY(CAST(:ids AS uuid[]))")
    else:
        end = _when(end_date, "end_date") or datetime.now(UTC)
        start = _when(start_date, "start_date") or end - MAX_RANGE
        if not timedelta(0) <= end - start <= MAX_RANGE:
            raise Refusal("bad_request.dates")
        where += ["o.requested_at >= :start", "o.requested_at <= :end"]
        params |= {"start": start, "end": end}
        if service_code:
            where.append("o.service_code = ANY(:codes)")
            params["codes"] = [c.strip() for c in service_code.split(",")]
        if status:
            wanted = {s.strip() for s in status.split(",")}
            if not wanted <= {"open", "closed"}:
                raise Refusal("bad_request.status")
            if wanted == {"open"}:
                where.append("c.closed_at IS NULL")
            elif wanted == {"closed"}:
                where.append("c.closed_at IS NOT NULL")
    rows = _list(engine, where, params)
    tz = rules.calendar.tz
    return render(fmt, "service_requests", [request_json(r, tz) for r in rows])


@router.get("/requests/{service_request_id}.{fmt}", responses={**OK, **ERRORS})
def get_request(
    service_request_id: Annotated[str, Path(max_length=64)],
    fmt: Format,
    engine: EngineDep,
    rules: RulesDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """One request (as a list of one, as the specification says)."""
    try:
        request_id = uuid.UUID(service_request_id)
    except ValueError as exc:
        raise Refusal("not_found.request", request=service_request_id) from exc
    rows = _list(engine, ["o.id = :id"], {"id": request_id, "jurisdiction": jurisdiction_id})
    if not rows:
        raise Refusal("not_found.request", request=service_request_id)
    return render(fmt, "service_requests", [request_json(rows[0], rules.calendar.tz)])
