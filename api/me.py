"""What the phone app keeps for working offline: the user's own grid and the open cases given to them."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import text

from api.auth import PrincipalDep, authorize
from api.deps import EngineDep, SettingsDep
from api.errors import Refusal, responses
from api.etags import NOT_MODIFIED, etagged
from cases.reads import CASE_FIELDS, case_json
from geo.areas import area_feature, area_info

MY_CASES = 200  # at most this many open cases are sent to the phone, soonest deadline first
router = APIRouter(tags=["app"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503))


@router.get("/v1/me/grid", response_model=dict[str, Any], responses={**responses(404), **NOT_MODIFIED})
def my_grid(request: Request, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Your own grid as a GeoJSON Feature (outline, name, community), with an ETag.

    ``tolerance_m`` is how far outside it an event is still taken as yours.
    """
    with engine.connect() as conn:
        grid = area_feature(conn, principal.scope)
        community = area_info(conn, grid["properties"]["parent_code"]) if grid else None
    if grid is None:
        raise Refusal("not_found.own_grid", grid=principal.scope)
    grid["properties"]["community_name"] = community[0] if community else None
    grid["properties"]["tolerance_m"] = settings.locate.locate_tolerance_m
    return etagged(request, grid)


@router.get("/v1/me/cases")
def my_cases(engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """The open cases given to you (to sign for, in hand, waiting for verification), soonest deadline first.

    Each has the report's description and place. At most 200.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {CASE_FIELDS}, e.description, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat"
                ' FROM "case" c JOIN event e ON e.id = c.id'
                " WHERE c.assignee = :me AND c.closed_at IS NULL"
                " AND c.state IN ('dispatched', 'in_progress', 'resolved')"
                " ORDER BY c.deadline NULLS LAST, c.id LIMIT :limit"
            ),
            {"me": principal.username, "limit": MY_CASES},
        ).all()
    now = datetime.now(UTC)
    return {"cases": [case_json(r, now) for r in rows]}
