"""``GET /v1/indicators``: the practice's indicators for an area and each of its children."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.deps import ReadEngineDep, RulesDep
from api.errors import Refusal, responses
from cases.indicators import category_mix, daily, indicators_by_area, intake_backlog, working_days
from geo.areas import area_info, child_names
from geo.levels import AREA_CODE

router = APIRouter(
    prefix="/v1", tags=["indicators"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503)
)
MAX_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


AreaParam = Annotated[str, Query(pattern=AREA_CODE, description="Area code")]
FromParam = Annotated[date, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First day (local), inclusive")]
ToParam = Annotated[date, Query(ge=FIRST_DAY, le=LAST_DAY, description="Last day (local), inclusive")]


def _area_name(conn: Connection, principal: Principal, area: str, from_: date, to: date) -> str:
    """The area's name, if it is in the caller's scope and the range is whole (422, 404 otherwise)."""
    days = (to - from_).days + 1
    if days < 1 or days > MAX_DAYS:
        raise Refusal("invalid_input.range", most=MAX_DAYS)
    return _name_in_scope(conn, principal, area)


def _name_in_scope(conn: Connection, principal: Principal, area: str) -> str:
    """The area's name, if it is in the caller's scope (404 otherwise)."""
    info = area_info(conn, area) if principal.sees_area(area) else None
    if info is None:
        raise Refusal("not_found.area", code=area)
    return info[0]


@router.get("/indicators")
def get_indicators(
    engine: ReadEngineDep, principal: PrincipalDep, rules: RulesDep, area: AreaParam, from_: FromParam, to: ToParam
) -> dict[str, Any]:
    """Indicators of an area in your scope and of each child, over whole local days; definitions in the README."""
    now = datetime.now(UTC)
    with engine.connect() as conn:
        name = _area_name(conn, principal, area, from_, to)
        children = child_names(conn, area)
        figures = indicators_by_area(conn, area, [code for code, _ in children], from_, to, rules, now)
        result = {"area": area, "name": name, "from": from_, "to": to, **figures[area]}
        result["working_days"] = len(working_days(rules, from_, to))  # patrols are owed on these
        result["children"] = [{"area": code, "name": name, **figures[code]} for code, name in children]
    return result


@router.get("/indicators/backlog")
def get_backlog(engine: ReadEngineDep, principal: PrincipalDep, area: AreaParam) -> dict[str, Any]:
    """Now: reports waiting to be taken in (待受理) and those past their intake deadline (超时未受理), by child."""
    now = datetime.now(UTC)
    with engine.connect() as conn:
        name = _name_in_scope(conn, principal, area)
        children = child_names(conn, area)
        figures = intake_backlog(conn, area, [code for code, _ in children], now)
    result = {"area": area, "name": name, "at": now, **figures[area]}
    return result | {"children": [{"area": code, "name": name, **figures[code]} for code, name in children]}


@router.get("/indicators/daily")
def get_daily(
    engine: ReadEngineDep, principal: PrincipalDep, rules: RulesDep, area: AreaParam, from_: FromParam, to: ToParam
) -> dict[str, Any]:
    """Reports received and cases closed on each local day of the range (the screen's trend)."""
    with engine.connect() as conn:
        _area_name(conn, principal, area, from_, to)
        return {"area": area, "days": daily(conn, area, from_, to, rules)}


@router.get("/indicators/categories")
def get_category_mix(
    engine: ReadEngineDep, principal: PrincipalDep, rules: RulesDep, area: AreaParam, from_: FromParam, to: ToParam
) -> dict[str, Any]:
    """Reports received over the range by category group, most first (the screen's category mix)."""
    with engine.connect() as conn:
        _area_name(conn, principal, area, from_, to)
        return {"area": area, "groups": category_mix(conn, area, from_, to, rules)}
