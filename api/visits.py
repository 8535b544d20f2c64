"""Household visits: each gridworker's due list, and visit coverage per area (definitions in the README)."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.deps import EngineDep, RulesDep, VisitRulesDep
from api.errors import Refusal, problem, responses
from api.indicators import FIRST_DAY, LAST_DAY
from geo.areas import area_info, child_names
from geo.levels import AREA_CODE
from registers.cadence import Cadence
from registers.store import household_grids
from registers.visits import due_visits, visit_coverage
from streams.schema import Event, Kind

router = APIRouter(
    prefix="/v1", tags=["visits"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503)
)
STATUSES = ("overdue", "this_week", "later")
MAX_DUE = 5000  # households in one answer: a grid has about 300, a community a few thousand


async def visits_known(engine: Engine, events: list[Event], principal: Principal, *, batch: bool) -> None:
    """422 for a visit that names no household, one not in the register, or one outside the visitor's area."""
    visits = [(n, e) for n, e in enumerate(events) if e.kind is Kind.VISIT]
    if not visits:
        return
    named = sorted({e.household for _, e in visits if e.household})
    grids = await run_in_threadpool(_grids, engine, named) if named else {}
    problems = []
    for n, event in visits:
        field = f"events.{n}.household" if batch else "household"
        if not event.household:
            found = problem(field, "field.visit_household")
        elif event.household not in grids:
            found = problem(field, "field.visit_unknown", household=event.household)
        elif not principal.sees_area(grids[event.household]):
            found = problem(
                field,
                "field.visit_outside",
                household=event.household,
                grid=grids[event.household],
                area=principal.scope,
            )
        else:
            continue
        problems.append(found)
    if problems:
        raise Refusal("invalid_input.visits", problems, n=len(problems))


def _grids(engine: Engine, households: list[str]) -> dict[str, str]:
    with engine.connect() as conn:
        return household_grids(conn, households)


def _area(principal: Principal, area: str | None) -> str:
    """The area asked for (default: the caller's own), or 404 outside the caller's area."""
    code = area or principal.scope
    if principal.area is None or not code.isdigit() or not principal.sees_area(code):
        raise Refusal("not_found.area_yours", code=code)
    return code


@router.get("/visits/due")
def get_due(
    engine: EngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    visit_rules: VisitRulesDep,
    area: Annotated[str | None, Query(pattern=AREA_CODE, description="Grid or area code (default: your own)")] = None,
    day: Annotated[
        date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="The day the list is for (default: today, local)")
    ] = None,
) -> dict[str, Any]:
    """The households due for a visit: overdue, due this week (by Sunday), and later, soonest first."""
    tz = rules.calendar.tz
    today = day or datetime.now(UTC).astimezone(tz).date()
    code = _area(principal, area)
    with engine.connect() as conn:
        due = due_visits(conn, code, today, visit_rules, tz)
    if len(due) > MAX_DUE:
        raise Refusal("invalid_input.too_many_due", n=len(due), code=code, most=MAX_DUE)
    lists: dict[str, list[dict[str, Any]]] = {s: [] for s in STATUSES}
    for d in due:
        lists[d.status].append(
            {
                "household": d.household,
                "address": d.address,
                "grid": d.grid,
                "members": d.members,
                "tags": d.tags,
                "cadence": d.cadence.value,
                "last_visit": d.last_visit,
                "due_by": d.due_by,
            }
        )
    return {"area": code, "day": today, "counts": {s: len(v) for s, v in lists.items()}, **lists}


@router.get("/visits/coverage")
def get_coverage(
    engine: EngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    visit_rules: VisitRulesDep,
    area: Annotated[str, Query(pattern=AREA_CODE, description="Area code")],
    day: Annotated[
        date | None,
        Query(ge=FIRST_DAY, le=LAST_DAY, description="A day of the month and quarter wanted (default: today)"),
    ] = None,
) -> dict[str, Any]:
    """Visit coverage of an area and of each child: vulnerable (monthly) and other (quarterly) households."""
    tz = rules.calendar.tz
    on = day or datetime.now(UTC).astimezone(tz).date()
    _area(principal, area)
    with engine.connect() as conn:
        info = area_info(conn, area)
        if info is None:
            raise Refusal("not_found.area", code=area)
        children = child_names(conn, area)

        def covered(code: str) -> dict[str, Any]:
            found = visit_coverage(conn, code, on, visit_rules, tz)
            return {
                "vulnerable" if kind is Cadence.MONTHLY else "others": {
                    "cadence": kind.value,
                    "period": [c.period_first, c.period_last],
                    "due": c.due,
                    "visited": c.visited,
                    "coverage": c.rate,
                }
                for kind, c in found.items()
            }

        return {
            "area": area,
            "name": info[0],
            "day": on,
            **covered(area),
            "children": [{"area": code, "name": name, **covered(code)} for code, name in children],
        }
