"""The command-centre map as a folium page, from data it is handed; every asset is local.

A page is sent in two parts: ``page_head(tiles, bounds)`` goes out before the data is read, so that
the browser fetches and runs the scripts, and fetches the grid tiles of its first view, while the
server builds ``render(data)``.
"""

from dataclasses import dataclass, field
from typing import Any

import folium
from folium.plugins import HeatMap

from maps.layers import (
    COMPONENT_STYLE,
    CONTEXT_STYLES,
    METRICS,
    OVERLAYS,
    PALETTE,
    WINDOWS,
    ComponentTiles,
    GridTiles,
    grid_style,
    latlng,
)
from web.reading import duration, minute
from web.templating import labels, page, script_data, with_nonce

ASSETS = "/static"
LEAFLET_JS = f"{ASSETS}/leaflet/leaflet.js"
LEAFLET_CSS = f"{ASSETS}/leaflet/leaflet.css"
HEAT_JS = f"{ASSETS}/folium/leaflet_heat.min.js"
LIVE_JS = f"{ASSETS}/maps/live.js"
PROTOMAPS_JS = f"{ASSETS}/protomaps/protomaps-leaflet.js"
GRIDS_JS = f"{ASSETS}/maps/gridtiles.js"
COMPONENTS_JS = f"{ASSETS}/maps/components.js"
ICON = f"{ASSETS}/maps/icon.svg"
SCRIPTS = (LEAFLET_JS, PROTOMAPS_JS, GRIDS_JS, COMPONENTS_JS, HEAT_JS)  # in the page's head, in this order
FOLIUM_START = "<!DOCTYPE html>\n<html>\n<head>"  # what page_head() stands for in folium's document


@dataclass
class MapData:
    """Everything the page shows, already aggregated and scoped by the caller."""

    area_name: str
    bounds: tuple[float, float, float, float]  # lon/lat min, max
    tiles: str  # URL template of the grids' vector tiles ({z}/{x}/{y})
    values: dict[str, float]  # the metric per grid code
    values_url: str  # where the page fetches them again
    missing: float | None  # the value of a grid not in ``values``: 0 for a count, none for a rate
    context: list[tuple[str, dict[str, Any]]]  # (label key, FeatureCollection): streets, communities, overlay grids
    heat: list[tuple[float, float, float]]  # lat, lon, weight
    escalations: list[dict[str, Any]]
    metric: str = "open_cases"
    window: str = "today"
    lang: str = "zh"
    tz: str = "Asia/Shanghai"  # the city's zone: the popups' times
    area: str | None = None
    tile_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    component_tiles: str = ""  # URL template of the components' vector tiles (部件)


def _legend(title: str, breaks: list[float], metric: str, text: dict[str, str]) -> str:
    rate = metric == "in_grid_closure_rate"
    if metric == "patrolled_today":
        rows = [(PALETTE[0], text["yes"]), (PALETTE[-1], text["no"])]
    else:
        edges = [0.0, *breaks]
        rows = [(PALETTE[i], f"≥ {e:.0%}" if rate else f"≥ {e:g}") for i, e in enumerate(edges)]
    return page("map/legend.html", title=title, rows=rows)


def _title(data: MapData, text: dict[str, str]) -> str:
    return page(
        "map/title.html",
        area_name=data.area_name,
        labels=text,
        windows=WINDOWS,
        window=data.window,
        metrics=METRICS,
        metric=data.metric,
        other_lang="en" if data.lang == "zh" else "zh",
        query=lambda **changes: _query(data, **changes),
    )


def _query(data: MapData, **changes: str) -> str:
    params = {"metric": data.metric, "window": data.window, "lang": data.lang} | changes
    if data.area:
        params["area"] = data.area
    return "&".join(f"{k}={v}" for k, v in params.items())


def _read(case: dict[str, Any], text: dict[str, str], tz: str) -> list[tuple[str, str]]:
    """An escalated case as people read it: its category, grid by name, level in words, age, deadline."""
    return [
        (text["category"], case["category_name"]),
        (text["grid"], case["grid_name"]),
        (text["level"], text.get(f"lv_{case['level']}", case["level"])),
        (text["age"], duration(case["age_s"], text)),
        (text["deadline"], minute(case["deadline"], tz)),
    ]


def _popup(case: dict[str, Any], text: dict[str, str], tz: str) -> str:
    return page("map/popup.html", rows=_read(case, text, tz), number=case["number"], labels=text)


def page_head(tiles: str, bounds: tuple[float, float, float, float]) -> str:
    """The start of a map page: the head's scripts and style sheet, and the fetch of the first view's grid tiles.

    Only local assets: Leaflet and protomaps-leaflet from the npm registry, the heat plugin from folium's wheel.
    ``tiles`` and ``bounds`` (lon/lat min, max) are those ``render`` is given in ``MapData``.
    """
    return page("map/head.html", icon=ICON, css=LEAFLET_CSS, scripts=SCRIPTS, tiles=tiles, bounds=latlng(bounds))


def render(data: MapData, max_live_points: int = 5000) -> str:
    """The rest of the page, after ``page_head()``."""
    text = labels(data.lang)
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, fade_animation=False)  # live.js: metric
    m.default_js = []  # every script is in page_head()
    m.default_css = []
    if data.tile_url:
        folium.TileLayer(data.tile_url, attr="tiles", name="base").add_to(m)
    m.fit_bounds(latlng(data.bounds))  # as gridgovPrefetch in page_head() expects

    style = grid_style(data.metric, data.values)
    grids = GridTiles(
        text["grids"],
        {
            "url": data.tiles,
            "missing": data.missing,
            "opacity": 0.65,
            "stroke": "#777",
            "width": 0.5,
            "bounds": latlng(data.bounds),  # no request for the tiles around the area
            **style,
        },
        script_data(data.values),
    )
    grids.add_to(m)
    ComponentTiles(
        text["components"],
        {"url": data.component_tiles, "bounds": latlng(data.bounds), **COMPONENT_STYLE},
    ).add_to(m)
    # The outlines around the grids, and the heat below, join the map once the grids are painted (live.js).
    later = [
        folium.GeoJson(
            collection,
            name=text[key],
            style_function=lambda f, style=CONTEXT_STYLES[key]: style,
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["", ""]) if key in OVERLAYS else None,
            show=False,
        ).add_to(m)
        for key, collection in data.context
    ]
    points = [list(p) for p in data.heat]  # in the config once: live.js hands them to the layer with the live ones
    heat = HeatMap([], name=text["heat"], radius=14, blur=18, min_opacity=0.3, show=False)  # type: ignore[no-untyped-call]
    heat.default_js = []
    heat.add_to(m)
    # Markers are drawn by live.js (as live ones are): folium's HTML popups would need jQuery from a CDN.
    escalated = folium.FeatureGroup(name=text["escalations"]).add_to(m)
    markers = [
        {"id": c["id"], "lat": c["lat"], "lon": c["lon"], "popup": _popup(c, text, data.tz)} for c in data.escalations
    ]
    folium.LayerControl(collapsed=False).add_to(m)
    root: Any = m.get_root()
    root.html.add_child(folium.Element(_title(data, text)))
    root.html.add_child(folium.Element(_legend(text[data.metric], style["breaks"], data.metric, text)))
    config = {
        "map": m.get_name(),
        "grids": grids.get_name(),
        "values": data.values_url,
        "metricLabel": text[data.metric],
        "rate": data.metric == "in_grid_closure_rate",
        "heat": heat.get_name(),
        "later": [layer.get_name() for layer in later],
        "escalations": escalated.get_name(),
        "area": data.area or "",
        "base": points,
        "markers": markers,
        "maxPoints": max_live_points,
        "lang": data.lang,
    }
    root.html.add_child(
        folium.Element(f'<script>window.GRIDGOV = {script_data(config)};</script><script src="{LIVE_JS}"></script>')
    )
    rendered: str = root.render()
    if not rendered.startswith(FOLIUM_START):
        raise RuntimeError(f"folium's page no longer starts with {FOLIUM_START!r}: page_head() cannot stand for it")
    return with_nonce(rendered.removeprefix(FOLIUM_START))


def escalations_page(area_name: str, cases: list[dict[str, Any]], tz: str, lang: str = "zh") -> str:
    """A supervisor's list of open escalated and overdue cases, soonest deadline first (times in ``tz``)."""
    text = labels(lang)
    columns = ["case", "category", "grid", "level", "age", "deadline"]
    rows = [(c["id"], c["number"], c["grid"], [value for _, value in _read(c, text, tz)]) for c in cases]
    return page("escalations.html", area_name=area_name, rows=rows, lang=lang, labels=text, columns=columns)
