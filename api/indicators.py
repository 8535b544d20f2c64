"""``GET /v1/indicators``: the practice's indicators for an area and each of its children."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import PrincipalDep, authorize
from api.deps import EngineDep, RulesDep
from api.errors import InvalidInput, NotFound, responses
from cases.indicators import indicators
from geo.areas import area_info, child_names
from geo.levels import AREA_CODE

router = APIRouter(
    prefix="/v1", tags=["indicators"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503)
)
MAX_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


@router.get("/indicators")
def get_indicators(
    engine: EngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    area: Annotated[str, Query(pattern=AREA_CODE, description="Area code")],
    from_: Annotated[date, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First day (local), inclusive")],
    to: Annotated[date, Query(ge=FIRST_DAY, le=LAST_DAY, description="Last day (local), inclusive")],
) -> dict[str, Any]:
    """Indicators of an area in your scope and of each child, over whole local days; definitions in the README."""
    days = (to - from_).days + 1
    if days < 1 or days > MAX_DAYS:
        raise InvalidInput(f"from must not be after to, and the range at most {MAX_DAYS} days")
    now = datetime.now(UTC)
    with engine.connect() as conn:
        info = area_info(conn, area) if principal.sees_area(area) else None
        if info is None:
            raise NotFound(f"no area with code {area} in the active boundary set")
        children = child_names(conn, area)
        result = {
            "area": area,
            "name": info[0],
            "from": from_,
            "to": to,
            **indicators(conn, area, from_, to, rules, now),
        }
        result["children"] = [
            {"area": code, "name": name, **indicators(conn, code, from_, to, rules, now)} for code, name in children
        ]
    return result
