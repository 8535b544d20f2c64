"""The data behind the command-centre map: grid layers and values, vector tiles, overlays, heat, escalations."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Connection

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.deps import LiveDep, ReadEngineDep, RulesDep, TileCacheDep, VisitRulesDep
from api.errors import Refusal, responses
from api.etags import NOT_MODIFIED, etag_of, tagged
from api.live import event_stream
from api.mapdata import (
    MAX_ZOOM,
    escalated_cases,
    grid_metric,
    grid_tile,
    grid_values,
    heat_cell,
    heat_points,
    missing_value,
    overlay_grids,
    window_start,
)
from cases.rules import Rules
from geo.areas import Bounds, area_info, first_district
from geo.boundaries import active_generation
from geo.demo import DEMO_DISTRICT
from geo.levels import AREA_CODE
from maps.layers import Metric, Window
from registers.cadence import VisitRules
from registers.visits import overdue_per_grid

MVT = "application/vnd.mapbox-vector-tile"
router = APIRouter(tags=["map"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503))
Lang = Literal["zh", "en"]
AreaQuery = Annotated[str | None, Query(pattern=AREA_CODE, description="Street or community code")]


def scope(conn: Any, area: str | None, principal: Principal) -> tuple[str, str, Bounds]:
    """The area shown, its name and bounds; an area outside the caller's is not found.

    By default the caller's own area; for the commander the demo district, else the first district.
    """
    code = area or principal.area or DEMO_DISTRICT
    info = area_info(conn, code) if principal.sees_area(code) else None
    if info is None and not area and not principal.area:
        code = first_district(conn) or DEMO_DISTRICT
        info = area_info(conn, code)
    if info is None:
        raise Refusal("not_found.area_yours", code=code)
    return code, info[0], info[1]


def grid_metric_values(
    conn: Connection, metric: str, code: str, now: datetime, rules: Rules, visit_rules: VisitRules
) -> dict[str, float]:
    """The metric per grid: from the cases and events, or (overdue visits) from the registers."""
    today = window_start("today", now, rules.calendar.tz)
    counted = None
    if metric == "overdue_visits":
        counted = overdue_per_grid(conn, code, today.date(), visit_rules, rules.calendar.tz)
    return grid_values(conn, metric, code, now, today, counted)


OUTLINED = (("streets", "street"), ("communities", "community"))  # the map's outlines around the grids


def query(area: str | None, **params: str) -> str:
    """A query string of ``params``, with the area when one is shown."""
    return urlencode(({"area": area} if area else {}) | params)


@router.get("/v1/map/grids", response_model=dict[str, Any])
def get_grid_layer(
    engine: ReadEngineDep,
    rules: RulesDep,
    visit_rules: VisitRulesDep,
    principal: PrincipalDep,
    area: AreaQuery = None,
    metric: Metric = "open_cases",
) -> dict[str, Any]:
    """Grids with the metric as ``properties.value`` (GeoJSON, simplified geometry)."""
    with engine.connect() as conn:
        code, _, _ = scope(conn, area, principal)
        return grid_metric(
            conn, metric, code, grid_metric_values(conn, metric, code, datetime.now(UTC), rules, visit_rules)
        )


@router.get("/v1/map/values", response_model=dict[str, Any])
def get_grid_values(
    engine: ReadEngineDep,
    rules: RulesDep,
    visit_rules: VisitRulesDep,
    principal: PrincipalDep,
    area: AreaQuery = None,
    metric: Metric = "open_cases",
) -> dict[str, Any]:
    """The metric per grid code, for the grids of the tiles: ``values`` names the grids that have one.

    A grid not named has 0 for a count (``missing`` is 0) and no value for a rate (``missing`` is null).
    """
    with engine.connect() as conn:
        code, _, _ = scope(conn, area, principal)
        values = grid_metric_values(conn, metric, code, datetime.now(UTC), rules, visit_rules)
    return {"area": code, "metric": metric, "missing": missing_value(metric), "values": values}


TileZ = Annotated[int, PathParam(ge=0, le=MAX_ZOOM, description=f"Zoom, 0 to {MAX_ZOOM}")]
TileXY = Annotated[int, PathParam(ge=0, description="Column or row, 0 to 2^z - 1")]


@router.get(
    "/v1/map/tiles/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={200: {"content": {MVT: {}}, "description": "A Mapbox Vector Tile, layer grids"}, **NOT_MODIFIED},
)
def get_grid_tile(
    request: Request,
    engine: ReadEngineDep,
    tiles: TileCacheDep,
    principal: PrincipalDep,
    z: TileZ,
    x: TileXY,
    y: TileXY,
    area: AreaQuery = None,
) -> Response:
    """The grids of the area in one web-mercator tile: a Mapbox Vector Tile, layer ``grids``.

    As tipg, martin and pg_tileserv serve them: clipped and quantised by PostGIS (``ST_AsMVT``). A
    feature's id is its grid's code; from zoom 12 it has the grid's ``name`` too. Empty where the area
    has no grid. The ETag names the boundary set (304 while it is current; a new one changes every tile),
    and so does the key of the server's copy (api/tilecache.py).
    """
    if x >= 2**z or y >= 2**z:
        raise Refusal("invalid_input.tile", z=z, x=x, y=y, most=2**z - 1)
    with engine.connect() as conn:
        code, _, _ = scope(conn, area, principal)
        key = ("grids", active_generation(conn), code, z, x, y)

        def body() -> bytes:
            return tiles.get(key, lambda: grid_tile(conn, code, z, x, y))

        return tagged(request, etag_of(list(key)), body, MVT, "private, max-age=60")


@router.get("/v1/map/overlays/{layer}", response_model=dict[str, Any])
def get_overlay_layer(
    engine: ReadEngineDep, principal: PrincipalDep, layer: Literal["party", "special"], area: AreaQuery = None
) -> dict[str, Any]:
    """Party grids (党建网格) or special grids (专属网格) over the area's management grids (GeoJSON)."""
    with engine.connect() as conn:
        code, _, _ = scope(conn, area, principal)
        return overlay_grids(conn, layer, code)


@router.get("/v1/map/heat", response_model=dict[str, Any])
def get_heat_layer(
    engine: ReadEngineDep, rules: RulesDep, principal: PrincipalDep, area: AreaQuery = None, window: Window = "today"
) -> dict[str, Any]:
    """Incidents in the window summed per ~50 m cell, as GeoJSON points with ``properties.count``."""
    with engine.connect() as conn:
        code, _, bounds = scope(conn, area, principal)
        points = heat_points(conn, code, window_start(window, datetime.now(UTC), rules.calendar.tz), heat_cell(bounds))
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"count": n}, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
            for lat, lon, n in points
        ],
    }


@router.get("/v1/map/escalations", response_model=dict[str, Any])
def get_escalation_layer(engine: ReadEngineDep, principal: PrincipalDep, area: AreaQuery = None) -> dict[str, Any]:
    """Open escalated and overdue cases as GeoJSON points, soonest deadline first."""
    with engine.connect() as conn:
        code, _, _ = scope(conn, area, principal)
        cases = escalated_cases(conn, code, datetime.now(UTC))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": c["id"],
                "properties": {k: v for k, v in c.items() if k not in ("lat", "lon")},
                "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
            }
            for c in cases
        ],
    }


@router.get("/v1/live", response_class=StreamingResponse)
async def live(feed: LiveDep, principal: PrincipalDep, area: AreaQuery = None) -> StreamingResponse:
    """Server-sent events in your area: located events and escalations as they happen (``retry`` 2 s)."""
    prefix = area or principal.area or ""
    if not principal.sees_area(prefix):
        raise Refusal("not_found.area_yours", code=prefix)
    return event_stream(feed, feed.subscribe(prefix))
