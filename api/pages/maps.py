"""The map pages: the command-centre map, the wall screen, the escalation list; the files every page loads."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import folium
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from api.auth import PrincipalDep, authorize
from api.components import COMPONENT_TILES
from api.deps import ReadEngineDep, RulesDep, SettingsDep, VisitRulesDep
from api.errors import responses
from api.map_layers import OUTLINED, AreaQuery, Lang, grid_metric_values, query, scope
from api.mapdata import boundaries, escalated_cases, heat_cell, heat_points, missing_value, overlay_grids, window_start
from cases.categories import category_names
from geo.areas import area_names
from geo.overlays import LAYERS
from maps.layers import Metric, Window
from web.city_map import MapData, escalations_page, page_head, render
from web.screen import screen_page
from web.templating import NODE_MODULES, STATIC

router = APIRouter(tags=["pages"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503))
LEAFLET_DIR = NODE_MODULES / "leaflet" / "dist"
ECHARTS_DIR = LEAFLET_DIR.parents[1] / "echarts" / "dist"
PROTOMAPS_DIR = LEAFLET_DIR.parents[1] / "protomaps-leaflet" / "dist"
FOLIUM_DIR = Path(folium.__file__).parent / "templates"
LIVE_DIR = STATIC / "maps"


ICON = LIVE_DIR / "icon.svg"
public = APIRouter(tags=["map"])  # no sign-in: what a browser fetches before it


@public.get("/favicon.ico", response_class=FileResponse)
def favicon() -> FileResponse:
    """The platform's icon (pages also link it as ``/static/maps/icon.svg``)."""
    return FileResponse(ICON, media_type="image/svg+xml")


def mount_assets(app: FastAPI) -> None:
    """Serve Leaflet, folium's heat plugin, our script and the icon from this machine."""
    app.include_router(public)
    app.mount("/static/leaflet", StaticFiles(directory=LEAFLET_DIR, check_dir=False), name="leaflet")
    app.mount("/static/echarts", StaticFiles(directory=ECHARTS_DIR, check_dir=False), name="echarts")
    app.mount("/static/protomaps", StaticFiles(directory=PROTOMAPS_DIR, check_dir=False), name="protomaps")
    app.mount("/static/folium", StaticFiles(directory=FOLIUM_DIR), name="folium")
    app.mount("/static/maps", StaticFiles(directory=LIVE_DIR), name="maps")


@router.get("/map", response_class=HTMLResponse)
def get_map(
    engine: ReadEngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    rules: RulesDep,
    visit_rules: VisitRulesDep,
    area: AreaQuery = None,
    metric: Metric = "open_cases",
    window: Window = "today",
    lang: Lang = "zh",
) -> StreamingResponse:
    """The live command-centre map of the city, or of one street or community (``?area=``).

    The page's head goes out at once, before the data is read: the browser fetches its scripts meanwhile.
    """
    with engine.connect() as conn:  # an area out of reach, or no database, is answered before the first byte
        code, name, bounds = scope(conn, area, principal)

    # The head fetches the first view's tiles by this url; the grid layer of the same url then finds them.
    tiles = "/v1/map/tiles/{z}/{x}/{y}.mvt?" + query(area)

    def parts() -> Iterator[str]:
        yield page_head(tiles, bounds)
        now = datetime.now(UTC)
        with engine.connect() as conn:
            context = [(key, boundaries(conn, level, code)) for key, level in OUTLINED]
            context += [(f"{layer}_grids", overlay_grids(conn, layer, code)) for layer in LAYERS]
            data = MapData(
                area_name=name,
                bounds=bounds,
                metric=metric,
                window=window,
                lang=lang,
                tz=str(rules.calendar.tz),
                area=area,
                tiles=tiles,
                component_tiles=COMPONENT_TILES + code,
                values=grid_metric_values(conn, metric, code, now, rules, visit_rules),
                values_url="/v1/map/values?" + query(area, metric=metric),
                missing=missing_value(metric),
                context=[(k, c) for k, c in context if c["features"]],
                heat=heat_points(conn, code, window_start(window, now, rules.calendar.tz), heat_cell(bounds)),
                escalations=escalated_cases(conn, code, now),
                tile_url=settings.api.tile_url,
            )
        yield render(data)

    return StreamingResponse(parts(), media_type="text/html")


@router.get("/screen", response_class=HTMLResponse)
def get_screen(
    engine: ReadEngineDep, principal: PrincipalDep, rules: RulesDep, area: AreaQuery = None, lang: Lang = "zh"
) -> str:
    """The command centre's wall screen (1920×1080) of an area: tiles, map, live ticker, trends, ranking, mix.

    Its numbers are those of ``GET /v1/indicators`` for the area and today (local).
    """
    with engine.connect() as conn:
        code, name, bounds = scope(conn, area, principal)
        names = area_names(conn, code)
    return screen_page(code, name, bounds, str(rules.calendar.tz), category_names(lang), names, lang)


@router.get("/escalations", response_class=HTMLResponse)
def get_escalations_page(
    engine: ReadEngineDep, principal: PrincipalDep, rules: RulesDep, area: AreaQuery = None, lang: Lang = "zh"
) -> str:
    """Open escalated and overdue cases of one area, soonest deadline first."""
    with engine.connect() as conn:
        code, name, _ = scope(conn, area, principal)
        cases = escalated_cases(conn, code, datetime.now(UTC))
    return escalations_page(name, cases, str(rules.calendar.tz), lang)
