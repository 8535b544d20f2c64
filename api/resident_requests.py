"""Resident requests, from the ask to the rating, and volunteers' points (积分).

居民点单 (a resident asks) → 社区派单 (the community dispatches) → 党员接单 (a volunteer takes it) →
组织评单 (the resident or the community rates it).
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, Engine, text

from api.access import SUPERVISORS, Principal, Role
from api.auth import PrincipalDep, authorize
from api.bodies import json_body, read_body
from api.deps import EngineDep, IntakeDep, LocatorDep, PostLimiterDep, ProtectorDep, RulesDep, SettingsDep
from api.errors import Refusal, invalid, problem, responses
from api.events import admit
from api.intake import Accepted
from api.placement import current_index, in_served_area
from cases.evidence import after_photo_rule
from cases.loop import Action, State
from cases.places import PLACE_SQL
from cases.reads import select_page
from cases.rules import Rules
from cases.store import transition
from db.partitions import case_report
from geo.levels import AREA_CODE
from registers.free_text import masked, protect
from registers.protect import Protector
from streams.schema import SCHEMA_VERSION, Event, FreeText, Kind, Location, NoControl, Window

router = APIRouter(
    prefix="/v1", tags=["requests"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503)
)
POINTS_PER_REQUEST = 10  # a volunteer's 积分 for each request completed and rated
VOLUNTEER_ACTIONS = {Action.ACCEPT, Action.DECLINE, Action.RESOLVE}
REQUEST_FIELDS = (
    "c.id::text AS id, c.category AS service, c.state, c.level, c.assignee, c.deadline, c.opened_at, c.closed_at,"
    " e.reporter AS resident, e.description, e.window_start, e.window_end, c.grid_code, c.community_code,"
    f" c.department, r.score, r.comment AS rating_comment, r.rated_by, {PLACE_SQL} AS place"
)
_SOURCE = f'"case" c {case_report()} LEFT JOIN rating r ON r.case_id = c.id'


class RequestIn(BaseModel):
    """What a resident asks for, where and when."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: UUID = Field(description="Chosen by the app; sending the same request again is harmless")
    service: Annotated[str, Field(pattern=r"^91\d{2}$", description="A resident service code (GET /v1/categories)")]
    location: Location
    window: Window
    description: Annotated[str, Field(max_length=2000), *FreeText] = ""


EXAMPLE = {
    "id": "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
    "service": "9102",
    "location": {"lon": 119.4301, "lat": 32.2011, "crs": "gcj02"},
    "window": {"start": "2026-11-23T08:00:00+08:00", "end": "2026-11-23T11:00:00+08:00"},
    "description": "需要陪同去医院复查",
}


class RequestAction(BaseModel):
    """Dispatch to a volunteer (community staff), or accept, decline, resolve (the volunteer)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["dispatch", "accept", "decline", "resolve"]
    volunteer: Annotated[str | None, Field(max_length=64, description="For dispatch: who takes it"), *NoControl] = None
    note: Annotated[str, Field(max_length=2000), *FreeText] = ""


class RatingIn(BaseModel):
    """How well the request was served."""

    model_config = ConfigDict(extra="forbid")

    score: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=2000), *FreeText] = ""


def _row(conn: Connection, request_id: UUID) -> Any:
    return conn.execute(
        text(f"SELECT {REQUEST_FIELDS} FROM {_SOURCE} WHERE c.id = :id AND c.kind = 'request'"), {"id": request_id}
    ).one_or_none()


def _request(conn: Connection, request_id: UUID, principal: Principal) -> Any:
    row = _row(conn, request_id)
    if row is None or not (
        principal.owns_request(row.resident, row.assignee) or principal.sees_case(row.place, row.department)
    ):
        raise Refusal("not_found.request_yours", request=str(request_id))
    return row


def _json(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k != "place"}


@router.post(
    "/requests",
    status_code=202,
    response_model=Accepted,
    responses=responses(400, 409, 413, 429),
    openapi_extra=json_body(RequestIn, EXAMPLE),
)
async def post_request(
    request: Request,
    intake: IntakeDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limiter: PostLimiterDep,
    locator: LocatorDep,
) -> Accepted:
    """A resident asks for a service (居民点单); it becomes a case of kind ``request`` on the event path.

    A location outside every district the platform serves is refused with 400.
    """
    admit(limiter, principal)
    now = datetime.now(UTC)
    try:
        body = RequestIn.model_validate_json(await read_body(request, settings.api.max_event_bytes))
        event = Event.model_validate(
            {
                "schema_version": SCHEMA_VERSION,
                "id": body.id,
                "kind": Kind.REQUEST,
                "category": body.service,
                "occurred_at": now,
                "location": body.location,
                "reporter": principal.username,
                "description": body.description,
                "window": body.window,
            },
            context={"now": now},
        )
    except ValidationError as exc:
        raise invalid(exc) from exc
    in_served_area(await current_index(locator), [event.location], ["location"])
    return await intake.accept([event])


@router.get("/requests")
def list_requests(
    engine: EngineDep,
    principal: PrincipalDep,
    state: State | None = None,
    area: Annotated[str | None, Query(pattern=AREA_CODE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Requests you may see (residents: their own; volunteers: given to them; supervisors: their area)."""
    scope_sql, scope_params = principal.request_filter()
    where = ["c.kind = 'request'", scope_sql]
    params: dict[str, Any] = scope_params | {"limit": limit, "offset": offset}
    if state:
        where.append("c.state = :state")
        params["state"] = state.value
    if area:
        where.append(f"{PLACE_SQL} LIKE :area")
        params["area"] = area + "%"
    total, rows = select_page(engine, REQUEST_FIELDS, _SOURCE, where, "c.opened_at DESC, c.id", params)
    return {"total": total, "requests": [_json(r) for r in rows]}


@router.get("/requests/{request_id}", responses=responses(404))
def get_request(request_id: UUID, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """One request in your scope, with its volunteer and rating."""
    with engine.connect() as conn:
        return _json(_request(conn, request_id, principal))


def _after(engine: Engine, request_id: UUID) -> dict[str, Any]:
    """The request as the caller's action left it (a volunteer who declined no longer sees it later)."""
    with engine.connect() as conn:
        return _json(_row(conn, request_id))


def _volunteer_of(conn: Connection, username: str | None, community: str | None) -> str:
    """The username if it is an enabled volunteer registered in ``community``; 422 otherwise."""
    row = conn.execute(
        text("SELECT scope FROM app_user WHERE username = :u AND role = 'volunteer' AND NOT disabled"),
        {"u": username or ""},
    ).one_or_none()
    if row is None or row.scope != community:
        raise Refusal(
            "invalid_input.fields", [problem("volunteer", "field.volunteer", user=username, code=community)], n=1
        )
    return str(username)


def _act(
    engine: Engine, request_id: UUID, body: RequestAction, principal: Principal, rules: Rules, protector: Protector
) -> None:
    action = Action(body.action)
    with engine.connect() as conn:
        row = _request(conn, request_id, principal)
        if action is Action.DISPATCH:
            if principal.role not in SUPERVISORS:
                raise Refusal("forbidden.request_dispatch")
            assignee: str | None = _volunteer_of(conn, body.volunteer, row.community_code)
        else:
            if principal.role is not Role.VOLUNTEER or row.assignee != principal.username:
                raise Refusal("forbidden.request_volunteer", action=action.value)
            assignee = None
    check = after_photo_rule(rules) if action is Action.RESOLVE else None
    note, sealed = protect(body.note, protector) if body.note else (f"→ {assignee}" if assignee else "", None)
    now = datetime.now(UTC)
    transition(
        engine,
        request_id,
        action,
        principal.username,
        note,
        now,
        rules,
        assignee=assignee,
        check=check,
        sealed_note=sealed,
    )


@router.post("/requests/{request_id}/transitions", responses=responses(400, 404, 409))
async def post_request_action(
    request_id: UUID,
    body: RequestAction,
    engine: EngineDep,
    rules: RulesDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
) -> dict[str, Any]:
    """社区派单 / 党员接单: staff dispatch to a volunteer of the request's community.

    That volunteer accepts, declines (it goes back to be dispatched again) or resolves it.
    """
    await run_in_threadpool(_act, engine, request_id, body, principal, rules, protector)
    return await run_in_threadpool(_after, engine, request_id)


def _rate(
    engine: Engine, request_id: UUID, body: RatingIn, principal: Principal, rules: Rules, protector: Protector
) -> None:
    with engine.connect() as conn:
        _request(conn, request_id, principal)
    now = datetime.now(UTC)
    comment = masked(body.comment)  # the rating's copy masked; the note keeps the original sealed
    note, sealed_note = protect(f"rated {body.score}/5" + (f": {body.comment}" if body.comment else ""), protector)

    def record_rating(conn: Connection, case: Any) -> None:
        if case.state != State.RESOLVED.value:
            return  # the transition refuses it, listing what is allowed
        conn.execute(
            text("INSERT INTO rating (case_id, score, comment, rated_by, rated_at) VALUES (:id, :s, :c, :by, :at)"),
            {"id": case.id, "s": body.score, "c": comment, "by": principal.username, "at": now},
        )

    transition(
        engine,
        request_id,
        Action.VERIFY,
        principal.username,
        note,
        now,
        rules,
        check=record_rating,
        sealed_note=sealed_note,
    )


@router.post("/requests/{request_id}/rating", responses=responses(400, 404, 409))
async def post_rating(
    request_id: UUID,
    body: RatingIn,
    engine: EngineDep,
    rules: RulesDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
) -> dict[str, Any]:
    """组织评单: the resident who asked, or community staff, rate a resolved request (1-5); this closes it."""
    await run_in_threadpool(_rate, engine, request_id, body, principal, rules, protector)
    return await run_in_threadpool(_after, engine, request_id)


@router.get("/communities/{code}/volunteers", responses=responses(404))
def get_volunteers(
    code: Annotated[str, Path(pattern=r"^\d{12}$")], engine: EngineDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    """The volunteers of a community with their completed requests and points (积分), most points first."""
    mine = principal.role is Role.VOLUNTEER and principal.scope == code
    if not (mine or principal.sees_area(code)):
        raise Refusal("not_found.community", code=code)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT u.username, u.disabled, count(r.case_id) AS completed, coalesce(avg(r.score), 0) AS mean_score"
                " FROM app_user u LEFT JOIN \"case\" c ON c.assignee = u.username AND c.kind = 'request'"
                " AND c.state = 'closed' LEFT JOIN rating r ON r.case_id = c.id"
                " WHERE u.role = 'volunteer' AND u.scope = :code GROUP BY u.username, u.disabled"
                " ORDER BY count(r.case_id) DESC, u.username"
            ),
            {"code": code},
        ).all()
    return [
        {
            "username": r.username,
            "disabled": r.disabled,
            "completed": r.completed,
            "points": r.completed * POINTS_PER_REQUEST,
            "mean_score": round(float(r.mean_score), 2) if r.completed else None,
        }
        for r in rows
    ]
