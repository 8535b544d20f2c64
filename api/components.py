"""Components (部件): the ones near a reporter, a tile layer for the map, and a supervisor's change of a case's unit."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import Field

from api.auth import PrincipalDep, authorize
from api.bodies import WriteBody
from api.cases import case_in_scope, read_case
from api.deps import CaseIdDep, EngineDep, ReadEngineDep, RulesDep
from api.errors import Refusal, problem, responses
from api.map_layers import MVT, AreaQuery, TileXY, TileZ, scope
from api.mapdata import component_tile
from cases.categories import component_classes
from cases.routing import known_units
from cases.store import reroute
from registers.components import near
from streams.schema import FreeText, NoControl

router = APIRouter(prefix="/v1", tags=["components"], dependencies=[Depends(authorize)], responses=responses(401, 403))
COMPONENT_TILES = "/v1/map/components/{z}/{x}/{y}.mvt?area="  # + an area code: the map pages' layer
MAX_NEAR_M = 200.0  # a reporter picks among the components around them, not a street's worth
ComponentClass = Annotated[str | None, Query(pattern=r"^BJ\d{4}$", description="A component class (BJ0116: 路灯)")]


@router.get("/components/near", responses=responses(422))
def get_near(
    engine: ReadEngineDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="WGS84 longitude of the reporter")],
    lat: Annotated[float, Query(ge=-90, le=90, description="WGS84 latitude")],
    category: ComponentClass = None,
    within_m: Annotated[float, Query(gt=0, le=MAX_NEAR_M, description="Tolerance in metres")] = 30.0,
) -> dict[str, Any]:
    """The components (of one class, if given) within ``within_m`` of a point, nearest first, at most 10.

    Each with its identifier, class, status, owner, distance and whether a case on it is open.
    """
    if category is not None and category not in component_classes():
        raise Refusal(
            "invalid_input.component_class", [problem("category", "field.component_class_query")], value=category
        )
    with engine.connect() as conn:
        found = near(conn, lon, lat, within_m, category)
    return {"within_m": within_m, "components": [r | {"distance_m": round(r["distance_m"], 1)} for r in found]}


@router.get(
    "/map/components/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}, "description": "A Mapbox Vector Tile, layer components"},
        **responses(404, 422),
    },
)
def get_component_tile(
    engine: ReadEngineDep,
    principal: PrincipalDep,
    z: TileZ,
    x: TileXY,
    y: TileXY,
    area: AreaQuery = None,
    category: ComponentClass = None,
) -> Response:
    """The components of the area in one web-mercator tile (layer ``components``), from zoom 15.

    Each feature has its ``code``, ``category``, ``status`` and ``open`` (a case on it is open), so a map
    styles it by class and marks the ones with an open case. Not cached: an open case shows at once.
    """
    if x >= 2**z or y >= 2**z:
        raise Refusal("invalid_input.tile", z=z, x=x, y=y, most=2**z - 1)
    with engine.connect() as conn:
        code, _, _ = scope(conn, area, principal)
        body = component_tile(conn, code, z, x, y, category)
    return Response(body, media_type=MVT, headers={"Cache-Control": "private, no-cache"})


class UnitIn(WriteBody):
    """A supervisor's change of the unit a case goes to (改派), and why."""

    unit: Annotated[str, Field(min_length=1, max_length=64, description="A unit of GET …/unit's list"), *NoControl]
    reason: Annotated[str, Field(min_length=1, max_length=500), *FreeText]


@router.post("/cases/{case_id}/unit", responses=responses(400, 404, 409, 422))
async def post_unit(
    request: Request, case_id: CaseIdDep, body: UnitIn, engine: EngineDep, rules: RulesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Send the case to another unit than the one decided (改派); the reason goes in its history.

    The decision was its component's owner, its filing condition's unit or the area's; 422 names the units.
    """
    await run_in_threadpool(case_in_scope, engine, case_id, principal)
    with engine.connect() as conn:
        units = known_units(conn, rules)
    if body.unit not in units:
        detail = [problem("unit", "field.unit_unknown", unit=body.unit, units="、".join(units))]
        raise Refusal("invalid_input.unit", detail, unit=body.unit)
    await run_in_threadpool(
        reroute, engine, case_id, body.unit, body.reason.strip(), principal.username, datetime.now(UTC), rules
    )
    return await run_in_threadpool(read_case, engine, case_id, principal)
