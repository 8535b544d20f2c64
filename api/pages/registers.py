"""The register's pages on the workbench (``/work/registers``): search, buildings, households, people, changes, import.

Every page shows numbers masked; a person's page is opened by their grid's staff for a purpose picked from a
list, and that read is a row of the access log.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.access import Role
from api.auth import PrincipalDep, authorize
from api.deps import EngineDep, ProtectorDep, RulesDep, SettingsDep, TodayDep, VisitRulesDep
from api.errors import Refusal, responses
from api.pages.work import csrf_of
from api.register_changes import changes_in
from api.register_imports import recent_imports
from api.registers import BUILDING, HouseholdId, PersonId, read_household, seen_building, shown_people
from api.reports import Lang
from cases.reads import display_names
from geo.areas import area_names
from registers import people
from web.registers import Purpose, purpose_text, register_page
from web.templating import labels

router = APIRouter(tags=["pages"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503))
MAX_GRIDS = 1000


@router.get("/work/registers", response_class=HTMLResponse)
def get_registers(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    rules: RulesDep,
    grid: Annotated[str | None, Query(pattern=r"^\d{15}$")] = None,
    lang: Lang = "zh",
) -> str:
    """Search people by name or ID number; the grids of your area, and a grid's buildings."""
    area = principal.area or "-"
    with engine.connect() as conn:
        grids = conn.execute(
            text(
                "SELECT b.grid_code AS code, count(DISTINCT b.code) AS buildings, count(h.id) AS households"
                " FROM building b LEFT JOIN household h ON h.building_code = b.code WHERE b.grid_code LIKE :area"
                " GROUP BY b.grid_code ORDER BY b.grid_code LIMIT :n"
            ),
            {"area": area + "%", "n": MAX_GRIDS},
        ).all()
        names = area_names(conn, area) if principal.area is not None else {}
        buildings = people.buildings(conn, grid) if grid and principal.sees_area(grid) else []
    data = {
        "grids": [dict(g._mapping) | {"name": names.get(g.code, g.code)} for g in grids],
        "grid": grid if buildings else None,
        "grid_name": names.get(grid or "", grid),
        "buildings": buildings,
    }
    return register_page(
        "index", lang, csrf_of(request, settings), rules.calendar.tz, labels(lang)["reg_registers"], data
    )


@router.get("/work/registers/buildings/{code}", response_class=HTMLResponse)
def get_building_page(
    code: Annotated[str, Path(pattern=BUILDING)],
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    rules: RulesDep,
    lang: Lang = "zh",
) -> str:
    """A building's households by unit and room, with members, tags and the last visit."""
    with engine.connect() as conn:
        row = seen_building(conn, code, principal)
        data = dict(row._mapping) | {"households": people.households_of(conn, code)}
    return register_page("building", lang, csrf_of(request, settings), rules.calendar.tz, row.name, data)


@router.get("/work/registers/households/{household_id}", response_class=HTMLResponse)
def get_household_page(
    household_id: HouseholdId,
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    visit_rules: VisitRulesDep,
    settings: SettingsDep,
    rules: RulesDep,
    today: TodayDep,
    lang: Lang = "zh",
) -> str:
    """A household: its members (masked) with tags, its cadence and its visits."""
    with engine.connect() as conn:
        data = read_household(conn, household_id, principal, protector, visit_rules, None, today)
    title = data["address"]
    return register_page("household", lang, csrf_of(request, settings), rules.calendar.tz, title, data)


@router.get("/work/registers/people/{person_id}", response_class=HTMLResponse)
def get_person_page(
    person_id: PersonId,
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    settings: SettingsDep,
    rules: RulesDep,
    today: TodayDep,
    purpose: Annotated[Purpose | None, Query(description="Why the record is opened")] = None,
    lang: Lang = "zh",
) -> str:
    """A person, masked; their grid's staff open the record for a purpose from the list (logged)."""
    with engine.begin() as conn:
        row = people.person(conn, person_id)
        if row is None or not principal.sees_building(row.grid_code, row.building_code):
            raise Refusal("not_found.person", person=person_id)
        may_open = principal.sees_unmasked(row.grid_code)
        why = purpose_text(purpose) if purpose and may_open else None
        shown = shown_people(conn, [row], principal, protector, why, today)[0]
    data = shown | {"may_open": may_open, "purpose": purpose}
    return register_page("person", lang, csrf_of(request, settings), rules.calendar.tz, row.name, data)


@router.get("/work/registers/changes", response_class=HTMLResponse)
def get_changes_page(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    rules: RulesDep,
    state: Literal["proposed", "applied", "refused"] = "proposed",
    lang: Lang = "zh",
) -> str:
    """The changes to the register in your area; the community approves or refuses what was proposed."""
    with engine.connect() as conn:
        changes = changes_in(conn, principal, state)
        names = display_names(conn, [n for c in changes for n in (c["proposed_by"], c["decided_by"]) if n])
    for change in changes:
        change["proposed_name"] = names.get(change["proposed_by"], change["proposed_by"])
        change["decided_name"] = names.get(change["decided_by"] or "", change["decided_by"])
    data: dict[str, Any] = {"changes": changes, "state": state, "may_decide": principal.role is Role.COMMUNITY}
    title = labels(lang)["reg_changes"]
    return register_page("changes", lang, csrf_of(request, settings), rules.calendar.tz, title, data)


@router.get("/work/registers/import", response_class=HTMLResponse)
def get_import_page(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    rules: RulesDep,
    lang: Lang = "zh",
) -> str:
    """Upload a register file, read the check's report in a table, fix the file and import it."""
    data = {"imports": recent_imports(engine, principal)}
    title = labels(lang)["reg_import"]
    return register_page("import", lang, csrf_of(request, settings), rules.calendar.tz, title, data)
