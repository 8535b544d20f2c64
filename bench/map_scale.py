"""The map at city scale: 10,000 grids and 100,000 incidents in the window.

    python bench/map_scale.py [--side 100] [--events 100000] [--runs 5]

For the 334-grid demo city and for a synthetic district of side×side grids, prints what headless
Chromium receives on a first load (the page; the data it fetches: vector tiles, values; scripts and
CSS apart, as a browser keeps them) and how long it takes until the grids (and every layer) are
drawn, on a first visit and on a returning one (medians of ``--runs``), for the previous method
(every grid inline as GeoJSON, as the page was built before the vector tiles; the baseline,
measured in the same run) and for the page as it is, with the ratio of the two.
"""

import argparse
import json
import random
import re
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import folium
import geopandas as gpd
import httpx
from fastapi.testclient import TestClient
from folium.plugins import HeatMap
from playwright.sync_api import Browser, sync_playwright
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.access import Role  # noqa: E402
from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.prepare import bench_headers, serve  # noqa: E402
from cli.local import postgres  # noqa: E402
from cli.local.scratch import drop_database, fresh_database  # noqa: E402
from db.engine import make_engine  # noqa: E402
from geo.boundaries import import_layer  # noqa: E402
from geo.demo import load_demo  # noqa: E402
from geo.levels import Level  # noqa: E402
from geo.locator import Locator  # noqa: E402
from geo.validate import COLUMNS  # noqa: E402
from streams import stages  # noqa: E402
from streams.schema import Event, Received  # noqa: E402
from streams.writer import write_events  # noqa: E402
from tests.test_map_browser import ARGS, CHROMIUM  # noqa: E402
from web import city_map  # noqa: E402

X0, Y0, CELL = 119.0, 32.0, 0.004  # ~380 m × 440 m grids
API_PORT = 18_771


def synthetic_city(side: int) -> dict[Level, gpd.GeoDataFrame]:
    """A district of side×side grids in 10×10 communities, grouped in streets by rows of communities."""
    block = 10
    rows: dict[Level, list[dict[str, object]]] = {level: [] for level in Level}
    whole = box(X0, Y0, X0 + side * CELL, Y0 + side * CELL)
    rows[Level.DISTRICT].append({"code": "999001", "name": "合成区", "geometry": whole})
    per_side = side // block
    for s in range(per_side):
        street = f"999001{s + 1:03d}"
        rows[Level.STREET].append(
            {
                "code": street,
                "name": f"街道{s + 1}",
                "parent_code": "999001",
                "geometry": box(X0, Y0 + s * block * CELL, X0 + side * CELL, Y0 + (s + 1) * block * CELL),
            }
        )
        for c in range(per_side):
            community = f"{street}{c + 1:03d}"
            x, y = X0 + c * block * CELL, Y0 + s * block * CELL
            rows[Level.COMMUNITY].append(
                {
                    "code": community,
                    "name": f"社区{c + 1}",
                    "parent_code": street,
                    "geometry": box(x, y, x + block * CELL, y + block * CELL),
                }
            )
            for g in range(block * block):
                gx, gy = x + (g % block) * CELL, y + (g // block) * CELL
                rows[Level.GRID].append(
                    {
                        "code": f"{community}{g + 1:03d}",
                        "name": f"网格{g + 1}",
                        "parent_code": community,
                        "households": 300,
                        "geometry": box(gx, gy, gx + CELL, gy + CELL),
                    }
                )
    frames = {}
    for level, items in rows.items():
        frame = gpd.GeoDataFrame(items, geometry="geometry", crs=4326)
        for column in COLUMNS:
            if column not in frame:
                frame[column] = None
        frame["level"] = level.value
        frames[level] = frame[COLUMNS]
    return frames


def add_incidents(engine: object, side: int, n: int) -> None:
    rng = random.Random(1)
    now = datetime.now(UTC)
    index = Locator(engine).index()  # type: ignore[arg-type]
    for start in range(0, n, 10_000):
        decoded = []
        for i in range(start, min(n, start + 10_000)):
            body = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "kind": "incident",
                "category": "0102",
                "occurred_at": now.isoformat(),
                "reporter": "gw-bench",
                "location": {
                    "lon": X0 + rng.random() * side * CELL,
                    "lat": Y0 + rng.random() * side * CELL,
                    "crs": "wgs84",
                },
            }
            decoded.append(stages.Decoded(Received.stamp(Event.model_validate_json(json.dumps(body)), now), 0, i))
        write_events(engine, stages.locate(decoded, index))  # type: ignore[arg-type]


def previous_page(client: TestClient, area: str) -> str:
    """The page as the previous version built it: every grid inline as GeoJSON (folium), heat points inline.

    The same layers and styles as the tiled page; only the way the grids reach the browser differs.
    """
    page = client.get(f"/map?area={area}&window=hour").text
    grids = client.get(f"/v1/map/grids?area={area}").json()
    top = max((f["properties"]["value"] for f in grids["features"]), default=0.0) or 1.0
    m = folium.Map(tiles=None, prefer_canvas=True)
    m.default_js = [("leaflet", city_map.LEAFLET_JS)]
    m.default_css = [("leaflet_css", city_map.LEAFLET_CSS)]
    folium.GeoJson(
        grids,
        style_function=lambda f: {
            "fillColor": city_map.PALETTE[min(5, int(6 * f["properties"]["value"] / top))],
            "color": "#777",
            "weight": 0.5,
            "fillOpacity": 0.65,
        },
        tooltip=folium.GeoJsonTooltip(fields=["name", "code", "value"]),
    ).add_to(m)
    m.fit_bounds(_bounds(page))
    heat = client.get(f"/v1/map/heat?area={area}&window=hour").json()
    points = [[*f["geometry"]["coordinates"][::-1], f["properties"]["count"]] for f in heat["features"]]
    heat_layer = HeatMap(points, radius=14, blur=18, min_opacity=0.3)  # type: ignore[no-untyped-call]
    heat_layer.default_js = [("leaflet-heat.js", city_map.HEAT_JS)]  # this site's copy, as the page has it
    heat_layer.add_to(m)
    rendered: str = m.get_root().render()
    return rendered


def _bounds(page: str) -> list[list[float]]:
    match = re.search(r"fitBounds\(\s*(\[\[.*?\]\])", page, re.S)
    assert match, "the page fits no bounds"
    bounds: list[list[float]] = json.loads(match.group(1))
    return bounds


VISITS = ("first visit", "returning")


def measure(settings: Settings, area: str, street: str, runs: int) -> dict[str, dict[str, dict[str, float]]]:
    """Bytes the browser receives on a first load and ms until the grids are drawn: before and now.

    The API runs in its own process (as it does in production) and has answered a few requests first.
    Each method is opened as a first visit (a new browser context, nothing cached; the first of the
    runs finds a server that has built no tile yet, printed apart) and as a returning one (a new
    context that opened the street's map just before, so the browser has the scripts, as the
    first-load bytes assume; the server has the tiles someone opened before), ``runs`` times each;
    the median of each figure.
    """
    headers = bench_headers(settings, "bench-commander", Role.COMMANDER, "")
    server = serve("api.app:create_app", settings, API_PORT)
    base = f"http://127.0.0.1:{API_PORT}"
    out: dict[str, dict[str, dict[str, float]]] = {visit: {} for visit in VISITS}
    try:
        with TestClient(create_app(settings)) as client, sync_playwright() as p:
            client.headers.update(headers)
            start = time.perf_counter()
            before_html = previous_page(client, area)
            built = {"before": (time.perf_counter() - start) * 1000, "now": _timed(client, _page_path(area))}
            _warm(base, headers)
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for visit in VISITS:
                for label, path, drawn in (
                    ("before: GeoJSON in the page", "/previous", "true"),
                    ("now: vector tiles", _page_path(area), "window[GRIDGOV.grids].shownAt"),
                ):
                    figures = [
                        _open(browser, base, headers, path, drawn, visit, street, before_html) for _ in range(runs)
                    ]
                    out[visit][label] = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
                    out[visit][label]["page build ms (server)"] = built["before" if path == "/previous" else "now"]
                    if visit == VISITS[0]:  # the server's first map of the area: it builds its tiles then
                        out[visit][label]["draw after the page came, 1st"] = figures[0]["draw after the page came ms"]
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def _open(
    browser: Browser, base: str, headers: dict[str, str], path: str, drawn: str, visit: str, street: str, html: str
) -> dict[str, float]:
    """Open ``path`` in a new context (after the street's map for a returning visit): its figures."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, extra_http_headers=headers)
    page = context.new_page()
    if path == "/previous":  # only this page is intercepted: a route pauses every request it matches
        page.route(base + path, lambda route: route.fulfill(body=html, content_type="text/html"))
    if visit == "returning":
        page.goto(base + _page_path(street), wait_until="load")
        page.wait_for_function("window[GRIDGOV.grids].drawn", timeout=60_000)
    page.goto(base + path, wait_until="load")
    page.wait_for_function(drawn, timeout=60_000)
    if path == "/previous":  # on the screen two frames after the page's load
        grids_at = all_at = page.evaluate(ON_SCREEN)
    else:  # the page marks it: two frames after the grids were painted, and after the other layers were
        grids_at = page.evaluate(drawn)
        page.wait_for_function("window.gridgovLive && window.gridgovLive.allDrawnAt", timeout=60_000)
        all_at = page.evaluate("window.gridgovLive.allDrawnAt")
    timing = page.evaluate(TIMING)
    context.close()
    page_bytes = len(html.encode()) if path == "/previous" else timing["page"]
    data_came = max(timing["arrived"], timing["data_came"])  # before, the data came with the page
    return {
        "load+draw ms": grids_at,
        "draw after the page came ms": grids_at - timing["arrived"],
        "draw after the data came ms": grids_at - data_came,
        "all layers after the page came": all_at - timing["arrived"],
        "page bytes": page_bytes,
        "data bytes (tiles, values)": timing["data"],
        "first load bytes": page_bytes + timing["data"],
        "scripts, css bytes (cached)": timing["scripts"],
        "JS heap MB": timing["heap"] / 1e6,
    }


# When what is drawn is on the screen: two frames later (Leaflet's canvas draws in the next one), as the
# page marks the grids' (gridtiles.js ``shownAt``) and the other layers' (live.js ``allDrawnAt``).
ON_SCREEN = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"

# Read in the page once everything is drawn: when the page had arrived and when the last tile had (ms
# since the navigation began), and the bytes that came over the wire (compressed) by kind.
TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const sum = (test) => performance.getEntriesByType("resource").filter((e) => test(new URL(e.name).pathname))
    .reduce((n, e) => n + e.encodedBodySize, 0);
  const tiles = performance.getEntriesByType("resource").filter((e) => e.name.includes("/v1/map/tiles/"));
  return {arrived: nav.responseEnd, page: nav.encodedBodySize, data: sum((p) => p.startsWith("/v1/map/")),
          data_came: Math.max(0, ...tiles.map((e) => e.responseEnd)),
          scripts: sum((p) => p.startsWith("/static/")),
          heap: performance.memory ? performance.memory.usedJSHeapSize : 0};
}"""


def _page_path(area: str) -> str:
    return f"/map?area={area}&window=hour"


def _warm(base: str, headers: dict[str, str]) -> None:
    """A server that has been up a while: its live feed reads already (it starts with the first page that
    listens), and twelve requests, six at a time, have opened the connections a browser's six will use."""
    with httpx.stream("GET", f"{base}/v1/live", headers=headers, timeout=30) as feed:
        next(feed.iter_lines())
        time.sleep(2)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: httpx.get(f"{base}/v1/me", headers=headers, timeout=30), range(12)))


def _timed(client: TestClient, path: str) -> float:
    start = time.perf_counter()
    client.get(path)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=100, help="grids per side of the synthetic district")
    parser.add_argument("--events", type=int, default=100_000, help="incidents in the heat map's hour")
    parser.add_argument("--runs", type=int, default=5, help="openings of each page per kind of visit (median)")
    args = parser.parse_args()
    if args.side < 10 or args.side % 10 or args.events < 0 or args.runs < 1:
        parser.error(
            "--side must be a multiple of 10 (communities of 10×10 grids), --events at least 0, --runs 1 or more"
        )
    base = Settings()
    postgres.up(base)
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for label, build in (
        ("demo city (334 grids)", False),
        (f"{args.side**2:,} grids, {args.events:,} incidents", True),
    ):
        settings = fresh_database(base, "gridgov_mapbench")
        engine = make_engine(settings.database.url)
        try:
            if not build:
                load_demo(engine)
                area, street = "321111", "321111002"
            else:
                for level, frame in synthetic_city(args.side).items():
                    import_layer(engine, frame, level, source="bench")
                add_incidents(engine, args.side, args.events)
                area, street = "999001", "999001001"
            results[label] = measure(settings, area, street, args.runs)
        finally:
            engine.dispose()
            drop_database(settings)
    for city, visits in results.items():
        for visit, methods in visits.items():
            _table(f"{city}, {visit}", methods)
    print("\ntargets at 10,000 grids: first load (page + data) <= 1,000,000 bytes, drawn <= 400 ms after the page came")


def _table(title: str, methods: dict[str, dict[str, float]]) -> None:
    before, now = methods.values()
    print(f"\n{title}")
    print(f"{'':30}" + "".join(f"{k:>30}" for k in methods) + f"{'now / before':>14}")
    for key in before:
        ratio = now[key] / before[key] if before[key] else float("nan")
        print(f"{key:30}{before[key]:>30,.1f}{now[key]:>30,.1f}{ratio:>14.3f}")


if __name__ == "__main__":
    main()
