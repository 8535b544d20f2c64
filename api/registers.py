"""The registers: buildings, households, people and visits; search by name or ID number; the log of unmasked reads.

ID and phone numbers are masked (321111********1234, 138****8000) for everyone but the grid's own
gridworker and its community's supervisors; each person they read unmasked is a row in
``GET /v1/pii-access``, with the purpose the caller gave. A building head (楼栋长) sees the
households of their own buildings, always masked.
"""

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field
from sqlalchemy import Connection, Row, text

from api.access import Principal
from api.accounts import USERNAME
from api.auth import PrincipalDep, authorize
from api.bodies import WriteBody
from api.deps import EngineDep, ProtectorDep, TodayDep, VisitRulesDep
from api.errors import Refusal, problem, responses
from cases.search import like_pattern
from registers import people
from registers.cadence import VisitRules
from registers.ids import id_problem, normalise_id
from registers.protect import Protector
from registers.store import log_access
from streams.schema import NoControl

router = APIRouter(
    prefix="/v1", tags=["registers"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503)
)
MAX_LOG = 1000
MAX_FOUND = 50  # people one name search answers with
GRID = r"^\d{15}$"
BUILDING = r"^\d{18}$"
HOUSEHOLD_ID = r"^\d{18}-[0-9A-Za-z]{1,8}-[0-9A-Za-z]{1,8}$"  # building-unit-room
HouseholdId = Annotated[str, Path(pattern=HOUSEHOLD_ID, description="building code-unit-room")]
PersonId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Purpose = Annotated[
    str,
    Query(min_length=1, max_length=200, description="What the record is read for; kept in the access log"),
    *NoControl,
]


def shown_people(
    conn: Connection,
    rows: list[Row[Any]],
    principal: Principal,
    protector: Protector,
    purpose: str | None,
    today: date,
) -> list[dict[str, Any]]:
    """The people as this caller may see them (``purpose`` None: masked); a log row for each one shown unmasked."""
    shown = [
        people.person_json(r, protector, purpose is not None and principal.sees_unmasked(r.grid_code), today)
        for r in rows
    ]
    opened = [p["id"] for p in shown if not p["masked"]]
    if opened and purpose:
        log_access(conn, principal.username, principal.role.value, "read", purpose, opened)
    return shown


def seen_building(conn: Connection, code: str, principal: Principal) -> Row[Any]:
    """A building the caller sees, else 404."""
    row = people.building(conn, code)
    if row is None or not principal.sees_building(row.grid_code, row.code):
        raise Refusal("not_found.building", building=code)
    return row


@router.get("/grids/{grid}/buildings")
def get_grid_buildings(
    grid: Annotated[str, Path(pattern=GRID, description="A grid's 15-digit code")],
    engine: EngineDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """A grid's buildings in the register with their households and people (a building head: their own)."""
    heads = principal.buildings
    if not (principal.sees_area(grid) if heads is None else any(b.startswith(grid) for b in heads)):
        raise Refusal("not_found.area_yours", code=grid)
    with engine.connect() as conn:
        return {"grid": grid, "buildings": people.buildings(conn, grid, principal.buildings)}


@router.get("/buildings/{code}")
def get_building(
    code: Annotated[str, Path(pattern=BUILDING, description="A building's 18-digit code")],
    engine: EngineDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """A building with its households by unit and room, each with its last visit (no personal numbers)."""
    with engine.connect() as conn:
        row = seen_building(conn, code, principal)
        return dict(row._mapping) | {"households": people.households_of(conn, code)}


@router.get("/households/{household_id}")
def get_household(
    household_id: HouseholdId,
    engine: EngineDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    visit_rules: VisitRulesDep,
    today: TodayDep,
    purpose: Purpose = "走访服务 (visit)",
) -> dict[str, Any]:
    """A household you see with its building, its people and its latest visits.

    Numbers are masked unless you are its grid's staff.
    """
    with engine.begin() as conn:
        return read_household(conn, household_id, principal, protector, visit_rules, purpose, today)


def read_household(
    conn: Connection,
    household_id: str,
    principal: Principal,
    protector: Protector,
    visit_rules: VisitRules,
    purpose: str | None,
    today: date,
) -> dict[str, Any]:
    """A household the caller sees with its cadence, people (``purpose`` None: masked) and visits; else 404."""
    row = people.household(conn, household_id)
    if row is None or not principal.sees_building(row.grid_code, row.building_code):
        raise Refusal("not_found.household", household=household_id)
    household = dict(row._mapping)
    household["cadence"] = visit_rules.cadence_of(row.tags).value
    household["people"] = shown_people(conn, people.members(conn, household_id), principal, protector, purpose, today)
    household["visits"] = people.visits_of(conn, household_id)
    return household


@router.get("/people/{person_id}")
def get_person(
    person_id: PersonId,
    engine: EngineDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    today: TodayDep,
    purpose: Purpose = "查看 (view)",
) -> dict[str, Any]:
    """A person of your area."""
    with engine.begin() as conn:
        row = people.person(conn, person_id)
        if row is None or not principal.sees_building(row.grid_code, row.building_code):
            raise Refusal("not_found.person", person=person_id)
        return shown_people(conn, [row], principal, protector, purpose, today)[0]


class SearchIn(WriteBody):
    """An ID number or a part of a name to look for (sent in the body, so it stays out of URLs and server logs)."""

    id_number: Annotated[str | None, Field(min_length=1, max_length=32)] = None
    name: Annotated[str | None, Field(min_length=1, max_length=30), *NoControl] = None
    purpose: Annotated[str, Field(min_length=1, max_length=200), *NoControl] = "查找 (search)"


@router.post("/people/search", responses=responses(400))
def search_people(
    body: SearchIn, engine: EngineDep, principal: PrincipalDep, protector: ProtectorDep, today: TodayDep
) -> dict[str, Any]:
    """The person you see with this ID number, or up to 50 people whose name holds ``name`` (send one of the two).

    An ID number is found by its keyed hash: the number is never stored plain.
    """
    if (body.id_number is None) == (body.name is None):
        raise Refusal("invalid_input.fields", [problem("name", "field.search_one")], n=1)
    if body.name is not None:
        with engine.begin() as conn:
            pattern = like_pattern(body.name.strip())
            rows = people.by_name(conn, pattern, principal.area or "", principal.buildings, MAX_FOUND)
            seen = [r for r in rows if principal.sees_building(r.grid_code, r.building_code)]
            log_access(conn, principal.username, principal.role.value, "search", body.purpose, rows=len(seen))
            return {"people": shown_people(conn, seen, principal, protector, body.purpose, today)}
    id_number = normalise_id(body.id_number or "")
    wrong = id_problem(id_number)
    if wrong:
        raise Refusal("invalid_input.fields", [problem("id_number", wrong[0], **wrong[1])], n=1)
    with engine.begin() as conn:
        row = people.find(conn, protector.search_hashes(id_number))
        found = row is not None and principal.sees_building(row.grid_code, row.building_code)
        log_access(conn, principal.username, principal.role.value, "search", body.purpose, rows=int(found))
        people_found = shown_people(conn, [row], principal, protector, body.purpose, today) if found and row else []
    return {"people": people_found}


@router.get("/pii-access")
def access_log(
    engine: EngineDep,
    since: Annotated[datetime | None, Query(description="Only entries at or after this time")] = None,
    actor: Annotated[str | None, Query(pattern=USERNAME)] = None,
    person: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Only entries about this person")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG)] = 200,
) -> dict[str, Any]:
    """Who read, searched, exported or deleted personal data, when, whom and for what (newest first)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, at, actor, role, action, person_id, household_id, purpose, rows FROM pii_access"
                " WHERE (CAST(:since AS timestamptz) IS NULL OR at >= :since) AND (CAST(:actor AS text) IS NULL"
                " OR actor = :actor) AND (CAST(:person AS bigint) IS NULL OR person_id = :person)"
                " ORDER BY id DESC LIMIT :limit"
            ),
            {"since": since, "actor": actor, "person": person, "limit": limit},
        ).all()
    return {"entries": [dict(r._mapping) for r in rows]}
