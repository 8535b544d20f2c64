"""The map at city scale: 10,000 grids and 100,000 incidents in the window.

    python bench/map_scale.py [--side 100] [--events 100000]

Prints what the browser receives (bytes of the page and of each data endpoint),
how long the server takes to build them, and how long headless Chromium takes to
load and draw the page; baseline: the same page for the 334-grid demo city.
"""

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
from fastapi.testclient import TestClient
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.access import Role  # noqa: E402
from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.prepare import bench_headers  # noqa: E402
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

X0, Y0, CELL = 119.0, 32.0, 0.004  # ~380 m × 440 m grids


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


def measure(settings: Settings, area: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with TestClient(create_app(settings)) as client:
        client.headers.update(bench_headers(settings, "bench-commander", Role.COMMANDER, ""))
        for name, path in (
            ("page", f"/map?area={area}&window=hour"),
            ("grids", f"/v1/map/grids?area={area}"),
            ("heat", f"/v1/map/heat?area={area}&window=hour"),
        ):
            start = time.perf_counter()
            response = client.get(path)
            out[f"{name} ms"] = (time.perf_counter() - start) * 1000
            out[f"{name} bytes"] = len(response.content)
        page_html = client.get(f"/map?area={area}&window=hour").text
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.route("**/v1/live*", lambda route: route.abort())
        page.route("**/static/**", lambda route: route.fulfill(path=_static(route.request.url)))
        start = time.perf_counter()
        page.set_content(page_html, wait_until="load")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        out["browser load+draw ms"] = (time.perf_counter() - start) * 1000
        out["browser JS heap MB"] = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0") / 1e6
        browser.close()
    return out


def _static(url: str) -> str:
    from api.map_pages import FOLIUM_DIR, LEAFLET_DIR, LIVE_DIR

    path = url.split("/static/", 1)[1]
    kind, name = path.split("/", 1)
    return str({"leaflet": LEAFLET_DIR, "folium": FOLIUM_DIR, "maps": LIVE_DIR}[kind] / name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=100)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    base = Settings()
    postgres.up(base)
    results = {}
    for label, build in (("demo city (334 grids)", None), (f"{args.side**2:,} grids, {args.events:,} incidents", 1)):
        settings = fresh_database(base, "gridgov_mapbench")
        engine = make_engine(settings.database.url)
        try:
            if build is None:
                load_demo(engine)
                area = "321111"
            else:
                for level, frame in synthetic_city(args.side).items():
                    import_layer(engine, frame, level, source="bench")
                add_incidents(engine, args.side, args.events)
                area = "999001"
            results[label] = measure(settings, area)
        finally:
            engine.dispose()
            drop_database(settings)
    keys = list(next(iter(results.values())))
    print(f"{'':28}" + "".join(f"{k:>24}" for k in results))
    for key in keys:
        print(f"{key:28}" + "".join(f"{r[key]:>24,.0f}" for r in results.values()))


if __name__ == "__main__":
    main()
