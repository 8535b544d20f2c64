"""Cases: transitions of the closed loop, one case with its history, lists for supervisors."""

import re
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from sqlalchemy import Engine, text

from api.access import DECISIONS, Principal
from api.accounts import get_user
from api.auth import PrincipalDep, authorize
from api.bodies import WriteBody
from api.deps import CaseIdDep, EngineDep, ProtectorDep, RulesDep
from api.errors import Refusal, problem, responses
from cases.evidence import after_photo_rule
from cases.loop import CLOCK_ACTIONS, REASONED, Action, State, allowed_actions
from cases.numbers import CASE_REF, case_id_of
from cases.places import PLACE_SQL
from cases.reads import CASE_FIELDS, OVERDUE_SQL, case_history, case_json, case_row, key_params, list_key, select_keyset
from cases.rules import Level, Rules
from cases.store import loop_case, transition
from db.partitions import CASE_REPORT, case_report
from db.register_tables import ComponentStatus
from geo.levels import AREA_CODE
from registers.components import set_status
from registers.free_text import protect
from streams.schema import FreeText, NoControl

router = APIRouter(
    prefix="/v1", tags=["cases"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503)
)
PERSON_ACTIONS = [a for a in Action if a not in CLOCK_ACTIONS]


class TransitionIn(WriteBody):
    """A person's action on a case."""

    action: Annotated[Action, Field(description=", ".join(a.value for a in PERSON_ACTIONS))]
    note: Annotated[str, Field(max_length=2000), *FreeText] = ""
    length: Annotated[
        str | None,
        Field(
            pattern=r"^\d{1,4}(\.\d{1,2})?\s*[mhd]$",
            description="extend, suspend: how long, e.g. 4h or 2d (whole working days on a working clock)",
        ),
    ] = None
    into: Annotated[
        str | None, Field(pattern=CASE_REF, description="merge: the open case this report repeats (number or id)")
    ] = None
    assignee: Annotated[
        str | None,
        Field(max_length=64, description="dispatch: a person at the case's level; none: its unit"),
        *NoControl,
    ] = None
    component_status: Annotated[
        ComponentStatus | None, Field(description="verify: the state of the case's component (部件) as found")
    ] = None


def _scoped_case(conn: Any, case_id: UUID, principal: Principal) -> Any:
    row = case_row(conn, case_id)
    if row is None or not principal.sees_case(row.place, row.department, row.special_code):
        raise Refusal("not_found.case_yours", case=str(case_id))
    return row


def read_case(engine: EngineDep, case_id: UUID, principal: Principal) -> dict[str, Any]:
    """The case with its ordered history, if the caller may see it (404 otherwise)."""
    with engine.connect() as conn:
        row = _scoped_case(conn, case_id, principal)
        history = case_history(conn, case_id)
    case = case_json(row, datetime.now(UTC))
    case["history"] = history
    return case


def case_in_scope(engine: EngineDep, case_id: UUID, principal: Principal) -> Any:
    """The case row, if the caller sees it (404 otherwise)."""
    with engine.connect() as conn:
        return _scoped_case(conn, case_id, principal)


def _check_assignee(engine: Engine, username: str, principal: Principal) -> None:
    """The person a case is dispatched to exists, may sign in, and works within the caller's reach (else a 422)."""
    user = get_user(engine, username)
    if user is None or user.disabled or (re.match(AREA_CODE, user.scope) and not principal.sees_area(user.scope)):
        raise Refusal("invalid_input.assignee", [problem("assignee", "field.assignee", user=username)], user=username)


# Who may be handed a case: those who take cases, able to sign in, with the name of the area they work in.
_STAFF = """
SELECT u.username, u.display_name, u.role, u.scope, a.name AS scope_name FROM app_user u
LEFT JOIN active_area a ON a.code = u.scope
WHERE NOT u.disabled AND u.role IN ('gridworker', 'community', 'street', 'department')
ORDER BY u.role, coalesce(u.display_name, u.username)
"""


def dispatch_choices(engine: Engine, principal: Principal, grid: str | None, unit: str | None) -> list[dict[str, Any]]:
    """The people the caller may dispatch a case to (those ``_check_assignee`` accepts), nearest it first.

    With a ``grid``: only the people of its community and the supervisors above it (and every department's
    officers). ``suggested``: a gridworker of the case's grid, an officer of the unit the rules name for its
    category.
    """
    with engine.connect() as conn:
        rows = conn.execute(text(_STAFF)).mappings().all()
    near = grid[:12] if grid else None  # a case's community: its people, and the supervisors above it

    def offered(scope: str) -> bool:
        if not re.match(AREA_CODE, scope):
            return True  # a department's officer
        return principal.sees_area(scope) and (near is None or scope.startswith(near) or near.startswith(scope))

    people = [dict(r) | {"suggested": r["scope"] in (grid, unit)} for r in rows if offered(r["scope"])]
    return sorted(people, key=lambda p: not p["suggested"])


def refusal(principal: Principal, action: Action, row: Any, rules: Rules) -> Refusal | None:
    """Why the caller may not take ``action`` on the case ``row`` (None: they may; the loop checks the state)."""
    if not principal.may_take(action) and not principal.may_verify(action, row.grid_code, row.assignee):
        return Refusal("forbidden.action", role=principal.role.value, action=action.value)
    if action in DECISIONS:
        level = Level(row.level)
        kind = row.request_kind or "suspension"  # resume ends a suspension
        approver = rules.limits_of(kind).approver
        if not principal.may_decide(level, approver):
            key = "forbidden.decision_district" if approver == "district" else "forbidden.decision_above"
            return Refusal(key, request=kind, level=level.value)
    return None


# What an action needs besides a note (the workbench asks for these).
ACTION_FIELDS = {
    Action.DISPATCH: ["assignee"],
    Action.EXTEND: ["length"],
    Action.SUSPEND: ["length"],
    Action.MERGE: ["into"],
}


def case_actions(engine: Engine, case_id: UUID, principal: Principal, rules: Rules) -> dict[str, Any]:
    """The actions the caller may take on the case now, each with its needs (404 outside their scope)."""
    with engine.connect() as conn:
        row = _scoped_case(conn, case_id, principal)
        case = loop_case(conn, case_id, rules)
    possible = [Action(a) for a in allowed_actions(case)] if case else []
    mine = [a for a in possible if refusal(principal, a, row, rules) is None]
    return {
        "state": row.state,
        "actions": [
            {"action": a.value, "reason_required": a in REASONED, "fields": ACTION_FIELDS.get(a, [])} for a in mine
        ],
    }


@router.get("/cases/{case_id}/actions", responses=responses(404))
def get_actions(case_id: CaseIdDep, engine: EngineDep, rules: RulesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The actions you may take on the case now: those its state allows, narrowed by your role and level.

    Each says whether it needs a reason (``note``) and which other fields it takes. The workbench offers
    these and only these; ``POST /v1/cases/{id}/transitions`` applies the same rules.
    """
    return case_actions(engine, case_id, principal, rules)


@router.post("/cases/{case_id}/transitions", responses=responses(400, 404, 409))
async def post_transition(
    case_id: CaseIdDep,
    body: TransitionIn,
    engine: EngineDep,
    rules: RulesDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
) -> dict[str, Any]:
    """Move a case through the loop as yourself; 409 lists the actions allowed in its current state.

    Gridworkers and departments may accept, decline, resolve, escalate, and ask for an extension or a
    suspension; a gridworker may also verify or send back work someone else did in their grid.
    Intake, dispatch and deciding requests need a supervisor.
    """
    if body.action in CLOCK_ACTIONS:
        raise Refusal("invalid_input.clock_action", action=body.action.value)
    row = await run_in_threadpool(case_in_scope, engine, case_id, principal)
    refused = refusal(principal, body.action, row, rules)
    if refused:
        raise refused
    if body.assignee is not None:
        await run_in_threadpool(_check_assignee, engine, body.assignee, principal)
    if body.component_status is not None and (body.action is not Action.VERIFY or row.component is None):
        detail = [problem("component_status", "field.component_status_verify")]
        raise Refusal("invalid_input.component_status", detail)
    into = None
    if body.into is not None:
        into = await run_in_threadpool(case_id_of, engine, body.into)
        if into is None:
            raise Refusal("not_found.case", case=body.into)
    note, sealed_note = protect(body.note, protector)  # personal numbers kept sealed, shown masked
    await run_in_threadpool(
        partial(
            transition,
            check=after_photo_rule(rules) if body.action is Action.RESOLVE else None,
            length=body.length,
            into=into,
            assignee=body.assignee,
            sealed_note=sealed_note,
        ),
        engine,
        case_id,
        body.action,
        principal.username,
        note,
        datetime.now(UTC),
        rules,
    )
    if body.component_status is not None:
        await run_in_threadpool(set_status, engine, row.component, body.component_status)
    return await run_in_threadpool(read_case, engine, case_id, principal)


@router.get("/cases/{case_id}", responses=responses(404))
def get_case(case_id: CaseIdDep, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """One case in your scope with its full, ordered history (who, what, when, level, deadline then)."""
    return read_case(engine, case_id, principal)


@router.get("/cases/{case_id}/duplicates", responses=responses(404))
def get_duplicates(case_id: CaseIdDep, engine: EngineDep, rules: RulesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Open cases this report may repeat: same category, near and close in time (the rules' window), nearest first.

    An open case on the same component (部件) is one at any distance and time.

    A supervisor confirms one with the ``merge`` action and ``into``.
    """
    window = rules.duplicates
    with engine.connect() as conn:
        _scoped_case(conn, case_id, principal)
        rows = conn.execute(
            text(
                "SELECT c.id::text AS id, c.number, c.state, c.opened_at, c.component, ST_X(e.geom) AS lon,"
                " ST_Y(e.geom) AS lat,"
                " round(ST_Distance(e.geom::geography, r.geom::geography)) AS distance_m"
                f' FROM "case" own {case_report("own", "r")}'
                ' JOIN "case" c ON c.category = own.category AND c.id <> own.id AND c.closed_at IS NULL'
                " AND c.state <> 'reported' AND (c.component = own.component"  # the same component: at any distance
                " OR c.opened_at BETWEEN own.opened_at - :window AND own.opened_at + :window)"
                f" {case_report()} WHERE own.id = :id AND (c.component = own.component"
                " OR ST_DWithin(e.geom::geography, r.geom::geography, :metres))"
                " ORDER BY distance_m, c.opened_at LIMIT 20"
            ),
            {"id": case_id, "window": window.within, "metres": window.distance_m},
        ).mappings()
        return {
            "distance_m": window.distance_m,
            "within_hours": window.within.total_seconds() / 3600,
            "candidates": [dict(r) for r in rows],
        }


@router.get("/cases")
def list_cases(
    engine: EngineDep,
    principal: PrincipalDep,
    state: State | None = None,
    level: Level | None = None,
    area: Annotated[str | None, Query(pattern=AREA_CODE, description="District, street, community or grid")] = None,
    category: Annotated[str | None, Query(pattern=r"^(BJ)?\d{4}$")] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[
        str | None,
        Query(max_length=60, description="The `next` of the page before: the list goes on after its last case"),
    ] = None,
) -> dict[str, Any]:
    """Cases in your scope matching the filters, soonest deadline first (open before closed), with who reported each.

    A page goes on from the one before by its key (``after`` = the ``next`` it gave): page 500 costs what
    page 1 does. ``total`` counts up to 10,000 (``total_exact`` false past that).
    """
    key = None if after is None else key_params(after)
    if after is not None and key is None:
        raise Refusal("invalid_input.after", given=after[:60])
    scope_sql, scope_params = principal.case_filter()
    where = [scope_sql]
    params: dict[str, Any] = scope_params | {"limit": limit, "now": datetime.now(UTC)}
    if state:
        where.append("c.state = :state")
        params["state"] = state.value
    if level:
        where.append("c.level = :level")
        params["level"] = level.value
    if area:
        where.append(f"{PLACE_SQL} LIKE :area")
        params["area"] = area + "%"
    if category:
        where.append("c.category = :category")
        params["category"] = category
    if overdue is not None:
        where.append(OVERDUE_SQL if overdue else f"NOT {OVERDUE_SQL}")
    fields = f"{CASE_FIELDS}, (SELECT e.reporter FROM event e WHERE {CASE_REPORT}) AS reporter"
    total, exact, rows = select_keyset(engine, fields, where, params, key)
    more = len(rows) == limit
    return {
        "total": total,
        "total_exact": exact,
        "cases": [case_json(r, params["now"]) for r in rows],
        "next": list_key(rows[-1]) if more else None,
    }
