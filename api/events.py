"""``POST /v1/events`` and ``/v1/events/batch``: accepted (202) only once the broker has them."""

import math
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, text
from starlette.datastructures import State

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.bodies import json_body, read_body
from api.deps import EngineDep, IntakeDep, LocatorDep, PostLimiterDep, SettingsDep
from api.errors import Refusal, invalid, responses
from api.etags import NOT_MODIFIED, etagged
from api.intake import Accepted
from api.placement import at_own_buildings, current_index, in_place
from api.ratelimit import RateLimiter
from api.visits import visits_known
from cases.categories import default_categories
from streams.schema import Batch, Event, example_event

router = APIRouter(
    prefix="/v1", tags=["events"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503)
)
ERRORS = responses(409, 413, 422, 429, 503)


def answer(accepted: Accepted) -> Response:
    """The 202, serialised by pydantic at once (FastAPI would validate the model again, then encode it)."""
    return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")


def admit(limiter: RateLimiter, principal: Principal) -> None:
    """Refuse a caller over their posting rate (429)."""
    wait = limiter.take(principal.username)
    if wait:
        seconds = math.ceil(wait)
        raise Refusal(
            "rate_limited.posts", headers={"Retry-After": str(seconds)}, user=principal.username, seconds=seconds
        )


def as_yourself(events: list[Event], principal: Principal) -> list[Event]:
    """The events, if every one names the caller as reporter; 403 otherwise."""
    for event in events:
        if event.reporter != principal.username:
            raise Refusal("forbidden.reporter", user=principal.username)
    return events


@router.post(
    "/events",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    openapi_extra=json_body(Event, example_event()),
)
async def post_event(request: Request, principal: PrincipalDep) -> Response:
    """Accept one event, posted as yourself. Retrying with the same id and content is safe.

    Limits: body 32 KiB (`GRIDGOV_MAX_EVENT_BYTES`), description 2,000 characters,
    10 attachments; occurred_at at most 5 minutes ahead and 30 days back;
    120 posts a minute per user, bursts of 30 (`GRIDGOV_EVENT_POSTS_PER_MINUTE`, `GRIDGOV_EVENT_POST_BURST`).
    A gridworker's event more than the location tolerance (`GRIDGOV_LOCATE_TOLERANCE_M`, 50 m) outside
    their own grid is refused with 422, naming the nearest grid and its distance; a building head's
    (楼栋长) incident more than the tolerance from their buildings likewise. A visit names a
    household of the register in the visitor's own area (422 otherwise, saying which).
    """
    state = request.app.state  # the hot path: read, not injected (see api.auth.current_principal)
    admit(state.limiter, principal)
    body = await read_body(request, state.settings.api.max_event_bytes)
    return answer(await take_event(state, principal, body))


async def take_event(state: State, principal: Principal, body: bytes) -> Accepted:
    """The steps of ``POST /v1/events`` once the caller is admitted and the body read (api.event_lane's too)."""
    try:
        event = Event.model_validate_json(body, context={"now": datetime.now(UTC)})
    except ValidationError as exc:
        raise invalid(exc) from exc
    index = await current_index(state.locator)
    in_place(index, as_yourself([event], principal), principal, batch=False)
    await at_own_buildings(state.engine, index.tolerance_m, [event], principal, batch=False)
    await visits_known(state.engine, [event], principal, batch=False)
    accepted: Accepted = await state.intake.accept([event])
    return accepted


@router.post(
    "/events/batch",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    openapi_extra=json_body(Batch, {"events": [example_event()]}),
)
async def post_batch(
    request: Request,
    intake: IntakeDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limiter: PostLimiterDep,
    locator: LocatorDep,
    engine: EngineDep,
) -> Response:
    """Accept up to 500 events saved offline, all or none.

    Limits: body 4 MiB (`GRIDGOV_MAX_BATCH_BYTES`), 500 events; each event as for
    `POST /v1/events`. An invalid event rejects the batch with 422 naming
    `events.N.field`.
    """
    admit(limiter, principal)
    body = await read_body(request, settings.api.max_batch_bytes)
    try:
        batch = Batch.model_validate_json(body, context={"now": datetime.now(UTC)})
    except ValidationError as exc:
        if any(e["type"] == "too_long" and e["loc"] == ("events",) for e in exc.errors()):
            raise Refusal("payload_too_large.batch", most=500) from exc
        raise invalid(exc) from exc
    events = as_yourself(list(batch.events), principal)
    index = await current_index(locator)
    in_place(index, events, principal, batch=True)
    await at_own_buildings(engine, index.tolerance_m, events, principal, batch=True)
    await visits_known(engine, events, principal, batch=True)
    return answer(await intake.accept(events))


class FilingCondition(BaseModel):
    """A filing condition (立案条件) of a 小类: its number, when it applies, when a case of it may close."""

    number: str
    text: str
    closing: str


class CategoryOut(BaseModel):
    """A 小类 of the classification as listed."""

    code: str
    name: str
    name_en: str
    kind: Literal["event", "component"]
    group: str
    group_name: str
    sla_class: str
    extension: bool
    conditions: list[FilingCondition]


@router.get("/categories", tags=["events"], response_model=list[CategoryOut], responses=NOT_MODIFIED)
def list_categories(request: Request) -> Response:
    """The 小类 an event may carry (events' four digits, components' BJ + four).

    Each with its names, 大类, SLA class, whether a city extension, and its filing conditions (a report names
    one where there are several).

    The answer has an ETag: send it back in If-None-Match and an unchanged list is a 304 with no body
    (the phone app refreshes its offline copy this way).
    """
    return etagged(request, categories())


def categories() -> list[dict[str, Any]]:
    """Each 小类 of the classification as the API lists it, with its filing conditions (立案条件)."""
    return [
        {
            "code": c.code,
            "name": c.name,
            "name_en": c.name_en,
            "kind": c.kind,
            "group": c.group,
            "group_name": c.group_name,
            "sla_class": c.sla_class.value,
            "extension": c.extension,
            "conditions": [{"number": k.number, "text": k.text, "closing": k.closing} for k in c.conditions],
        }
        for c in default_categories().values()
    ]


EVENT_FIELDS = (
    "e.id::text AS id, e.kind, e.category, e.reporter, e.occurred_at, e.received_at, e.recorded_at, e.grid_code,"
    " e.community_code, e.street_code, e.district_code, e.special_code, e.locate_method, c.state AS case_state,"
    " c.level AS case_level,"
    " c.department, c.assignee, c.merged_into::text AS merged_into, m.state AS merged_into_state,"
    " ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat"
)


def event_in_scope(conn: Connection, event_id: UUID, principal: Principal) -> Any:
    """The recorded event with its case, if the caller reported it, was given it, or sees it; else 404."""
    row = conn.execute(
        text(
            f'SELECT {EVENT_FIELDS} FROM event e LEFT JOIN "case" c ON c.id = e.id'
            ' LEFT JOIN "case" m ON m.id = c.merged_into WHERE e.id = :id'
        ),
        {"id": event_id},
    ).one_or_none()
    place = None if row is None else (row.grid_code or row.community_code or row.street_code or row.district_code)
    if row is None or not (
        principal.username in (row.reporter, row.assignee)
        or principal.sees_case(place, row.department, row.special_code)
    ):
        raise Refusal("not_found.event", event=str(event_id))
    return row


@router.get("/events/{event_id}", responses=responses(404))
def get_event(event_id: UUID, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """A recorded event: where it was placed and its case (own events, or events in your scope).

    A report merged as a duplicate names the case it joined and that case's state, so its
    reporter follows the outcome.
    """
    with engine.connect() as conn:
        row = event_in_scope(conn, event_id, principal)
    return {k: v for k, v in row._mapping.items() if k not in ("lon", "lat")}
