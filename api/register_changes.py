"""Everyday changes to the register, each a route with a reason: proposed by a gridworker, approved by the community.

A gridworker's change to a household of their own grid is ``proposed``; the community supervisor's is
``applied`` at once, and they approve or refuse what was proposed (``GET /v1/register-changes``). Every
change names a ``client_id`` (a UUID the phone makes): sending it again answers with the change already
made. Applying a change logs the people it touched in the access log, with the change's reason.
"""

import json
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field
from sqlalchemy import Connection, Engine, text

from api.access import Principal, Role
from api.auth import PrincipalDep, authorize
from api.bodies import WriteBody
from api.deps import EngineDep, ProtectorDep, TodayDep, VisitRulesDep
from api.errors import Refusal, problem, responses
from api.registers import HOUSEHOLD_ID, HouseholdId, PersonId
from registers.cadence import VisitRules
from registers.changes import Change, Stale, apply, place_of, sealed_person, targets
from registers.ids import id_problem, normalise_id, phone_problem
from registers.store import log_access
from streams.schema import FreeText, NoControl

router = APIRouter(
    prefix="/v1",
    tags=["registers"],
    dependencies=[Depends(authorize)],
    responses=responses(400, 401, 403, 404, 409, 422, 503),
)
MAX_LISTED = 500
Reason = Annotated[str, Field(min_length=1, max_length=500, description="Why the register changes"), *FreeText]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=20)]], Field(max_length=20)]


class ChangeIn(WriteBody):
    """What every change carries: the phone's id for it (a resend is the same change) and the reason."""

    client_id: uuid.UUID
    reason: Reason


class AddPersonIn(ChangeIn):
    """A person joins a household (born, moved in)."""

    name: Annotated[str, Field(min_length=1, max_length=30), *NoControl]
    id_number: Annotated[str, Field(min_length=1, max_length=32)]
    phone: Annotated[str | None, Field(max_length=20)] = None
    relation: Annotated[str, Field(min_length=1, max_length=20), *NoControl]
    tags: Tags = []


class MoveIn(ChangeIn):
    """A person moves to another household: an existing one, or a new room (building-unit-room)."""

    into: Annotated[str, Field(pattern=HOUSEHOLD_ID)]


class LeaveIn(ChangeIn):
    """A person leaves the register: moved away, or died."""

    why: Literal["moved_away", "died"]
    on: date


class TagsIn(ChangeIn):
    """A person's tags, all of them (the visit cadence follows)."""

    tags: Tags


class SplitIn(ChangeIn):
    """Some members of a household start a new one (building-unit-room)."""

    people: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=50)]
    into: Annotated[str, Field(pattern=HOUSEHOLD_ID)]


class MergeIn(ChangeIn):
    """Every member of this household joins another; this one is left empty."""

    into: Annotated[str, Field(pattern=HOUSEHOLD_ID)]


class DecisionIn(WriteBody):
    """A community supervisor's decision on a proposed change."""

    approve: bool
    note: Annotated[str, Field(max_length=500), *FreeText] = ""


def _tags_known(tags: list[str], rules: VisitRules) -> None:
    unknown = [t for t in tags if t not in rules.tags]
    if unknown:
        raise Refusal(
            "invalid_input.fields",
            [problem("tags", "field.tag_unknown", tag=unknown[0], known="、".join(rules.tags))],
            n=1,
        )


def _allowed(principal: Principal, grids: list[str]) -> str:
    """``proposed`` for the first grid's gridworker, ``applied`` for its community's supervisor; 403 for anyone else.

    The other grids (where a move, split or merge leads) must lie in the same community.
    """
    own, *others = grids
    community = own[:12]
    if principal.role is Role.GRIDWORKER and principal.scope == own:
        if all(g.startswith(community) for g in others):
            return "proposed"
    elif principal.role is Role.COMMUNITY and all(g.startswith(principal.scope) for g in grids):
        return "applied"
    raise Refusal("forbidden.register_change", grid=own)


def _made(conn: Connection, client_id: uuid.UUID) -> dict[str, Any] | None:
    row = conn.execute(text(f"{_CHANGES} WHERE client_id = :id"), {"id": client_id}).one_or_none()
    return None if row is None else dict(row._mapping)


# What a proposal keeps of a new person's numbers until it is decided (then only the masked ones stay).
SEALED_DETAILS = ("id_sealed", "phone_sealed", "id_hash", "birth_date")
_UNSEALED = " - ".join(["details", *(f"'{k}'" for k in SEALED_DETAILS)])
_CHANGES = (
    f"SELECT id, client_id, kind, grid_code, household_id, person_id, {_UNSEALED} AS details, reason, state,"
    " proposed_by, proposed_at, decided_by, decided_at, decision_note, outcome FROM register_change"
)


def _apply(
    conn: Connection, principal: Principal, kind: Change, details: dict[str, Any], reason: str, today: date
) -> Any:
    try:
        done = apply(conn, kind, details, today)
    except Stale as exc:
        raise Refusal("conflict.register_stale", [problem("register", exc.key, **exc.values)]) from exc
    log_access(conn, principal.username, principal.role.value, "change", reason, done["people"] or [None])
    return done


def _change(
    engine: Engine, principal: Principal, kind: Change, body: ChangeIn, details: dict[str, Any], today: date
) -> dict[str, Any]:
    """Record (and for a supervisor apply) the change; the one already made under this ``client_id`` if any."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:id))"), {"id": str(body.client_id)})
        if (made := _made(conn, body.client_id)) is not None:
            return made
        try:
            place = place_of(conn, kind, details)
            reached = targets(conn, kind, details)
        except Stale as exc:
            raise Refusal("not_found.register_entry", [problem("register", exc.key, **exc.values)]) from exc
        if kind in (Change.MOVE, Change.SPLIT, Change.MERGE) and details.get("into") == place.household:
            raise Refusal("invalid_input.fields", [problem("into", "field.same_household")], n=1)
        state = _allowed(principal, [place.grid, *reached])
        outcome = _apply(conn, principal, kind, details, body.reason, today) if state == "applied" else None
        if outcome:
            details = {k: v for k, v in details.items() if k not in SEALED_DETAILS}
        conn.execute(
            text(
                "INSERT INTO register_change (client_id, kind, grid_code, household_id, person_id, details, reason,"
                " state, proposed_by, decided_by, decided_at, outcome) VALUES (:client_id, :kind, :grid, :household,"
                " :person, CAST(:details AS jsonb), :reason, :state, :by, :decided_by,"
                " CASE WHEN :applied THEN now() END, CAST(:outcome AS jsonb))"
            ),
            {
                "client_id": body.client_id, "kind": kind.value, "grid": place.grid, "household": place.household,
                "person": place.person, "details": _json(details), "reason": body.reason, "state": state,
                "by": principal.username, "decided_by": principal.username if outcome else None,
                "applied": bool(outcome), "outcome": _json(outcome) if outcome else None,
            },
        )  # fmt: skip
        made = _made(conn, body.client_id)
        assert made is not None
        return made


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@router.post("/households/{household_id}/people")
def add_person(
    household_id: HouseholdId,
    body: AddPersonIn,
    engine: EngineDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    rules: VisitRulesDep,
    today: TodayDep,
) -> dict[str, Any]:
    """A person joins a household (a birth, a move in): their ID number is sealed at once."""
    id_number = normalise_id(body.id_number)
    found = [("id_number", id_problem(id_number))] + ([("phone", phone_problem(body.phone))] if body.phone else [])
    wrong = [problem(field, w[0], **w[1]) for field, w in found if w]
    if wrong:
        raise Refusal("invalid_input.fields", wrong, n=len(wrong))
    _tags_known(body.tags, rules)
    details = {"household": household_id, "name": body.name.strip(), "relation": body.relation.strip()}
    details |= {"tags": body.tags} | sealed_person(protector, id_number, body.phone)
    return _change(engine, principal, Change.ADD, body, details, today)


@router.post("/people/{person_id}/move")
def move_person(
    person_id: PersonId, body: MoveIn, engine: EngineDep, principal: PrincipalDep, today: TodayDep
) -> dict[str, Any]:
    """A person moves to another household of the community (a new room is made in its building)."""
    return _change(engine, principal, Change.MOVE, body, {"person": person_id, "into": body.into}, today)


@router.post("/people/{person_id}/leave")
def leave(
    person_id: PersonId, body: LeaveIn, engine: EngineDep, principal: PrincipalDep, today: TodayDep
) -> dict[str, Any]:
    """A person leaves the register (moved away, died); the change keeps who, when and why."""
    details = {"person": person_id, "why": body.why, "on": body.on.isoformat()}
    return _change(engine, principal, Change.LEAVE, body, details, today)


@router.put("/people/{person_id}/tags")
def set_tags(
    person_id: PersonId, body: TagsIn, engine: EngineDep, principal: PrincipalDep, rules: VisitRulesDep, today: TodayDep
) -> dict[str, Any]:
    """A person's tags, all of them; their household's tags and visit cadence follow."""
    _tags_known(body.tags, rules)
    return _change(engine, principal, Change.TAGS, body, {"person": person_id, "tags": body.tags}, today)


@router.post("/households/{household_id}/split")
def split(
    household_id: HouseholdId, body: SplitIn, engine: EngineDep, principal: PrincipalDep, today: TodayDep
) -> dict[str, Any]:
    """Some members start a new household (building-unit-room)."""
    details = {"household": household_id, "people": sorted(set(body.people)), "into": body.into}
    return _change(engine, principal, Change.SPLIT, body, details, today)


@router.post("/households/{household_id}/merge")
def merge(
    household_id: HouseholdId, body: MergeIn, engine: EngineDep, principal: PrincipalDep, today: TodayDep
) -> dict[str, Any]:
    """Every member joins another household."""
    return _change(engine, principal, Change.MERGE, body, {"household": household_id, "into": body.into}, today)


@router.get("/register-changes")
def list_changes(
    engine: EngineDep,
    principal: PrincipalDep,
    state: Annotated[Literal["proposed", "applied", "refused"] | None, Query()] = "proposed",
) -> dict[str, Any]:
    """Changes in your area (a gridworker: their own), newest first (at most 500)."""
    with engine.connect() as conn:
        return {"changes": changes_in(conn, principal, state)}


def changes_in(conn: Connection, principal: Principal, state: str | None) -> list[dict[str, Any]]:
    """The changes in the caller's area (a gridworker: their own) in ``state``, newest first, with where and whom."""
    rows = conn.execute(
        text(
            f"SELECT c.*, h.address, p.name AS person_name FROM ({_CHANGES}) c"
            " LEFT JOIN household h ON h.id = c.household_id LEFT JOIN person p ON p.id = c.person_id"
            " WHERE c.grid_code LIKE :area AND (CAST(:state AS text) IS NULL OR c.state = :state)"
            " AND (NOT :mine OR c.proposed_by = :me) ORDER BY c.id DESC LIMIT :n"
        ),
        {"area": (principal.area or "-") + "%", "state": state, "mine": principal.role is Role.GRIDWORKER,
         "me": principal.username, "n": MAX_LISTED},
    )  # fmt: skip
    return [dict(r._mapping) for r in rows]


@router.post("/register-changes/{change_id}/decision")
def decide(
    change_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: DecisionIn,
    engine: EngineDep,
    principal: PrincipalDep,
    today: TodayDep,
) -> dict[str, Any]:
    """Approve (the change is applied) or refuse a proposed change of your community."""
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT * FROM register_change WHERE id = :id FOR UPDATE"), {"id": change_id}
        ).one_or_none()
        if row is None or not principal.sees_area(row.grid_code):
            raise Refusal("not_found.register_change", change=change_id)
        if row.state != "proposed":
            raise Refusal("conflict.register_decided", state=row.state)
        if principal.role is not Role.COMMUNITY:
            raise Refusal("forbidden.register_change", grid=row.grid_code)
        if not body.approve and not body.note.strip():
            raise Refusal("invalid_input.fields", [problem("note", "field.refusal_reason")], n=1)
        kind = Change(row.kind)
        if body.approve:
            try:
                reached = targets(conn, kind, row.details)
            except Stale as exc:
                raise Refusal("conflict.register_stale", [problem("register", exc.key, **exc.values)]) from exc
            _allowed(principal, [row.grid_code, *reached])
        outcome = _apply(conn, principal, kind, row.details, row.reason, today) if body.approve else None
        conn.execute(
            text(
                f"UPDATE register_change SET state = :state, decided_by = :by, decided_at = now(),"
                f" decision_note = :note, details = {_UNSEALED}, outcome = CAST(:outcome AS jsonb) WHERE id = :id"
            ),
            {"state": "applied" if body.approve else "refused", "by": principal.username, "note": body.note,
             "outcome": _json(outcome) if outcome else None, "id": change_id},
        )  # fmt: skip
        made = _made(conn, row.client_id)
        assert made is not None
        return made
