"""The live map in a real headless Chromium: a posted incident appears without reload, all offline."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, sync_playwright
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_fixtures import event_body, grid_point, running_worker
from tests.server import serve

CHROMIUM = "/usr/bin/chromium"
# `make screenshots` sets this to docs/; the suite itself writes no file of the checkout.
SCREENSHOTS = os.environ.get("GRIDGOV_SCREENSHOTS")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


@pytest.fixture(scope="module")
def server(settings: Settings, demo_city: Engine) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium")
    with running_worker(settings, demo_city, "browser-test"), serve(create_app(settings)) as base:
        yield base


# The data tiles (z/x/y) the grid layer's screen tiles are painted from.
DATA_TILES = """() => {
  const layer = window[GRIDGOV.grids], view = layer.views.get("");
  return Object.values(layer._tiles).map((t) => {
    const d = view.dataTileForDisplayTile(t.coords).dataTile;
    return `${d.z}/${d.x}/${d.y}`;
  });
}"""


def _hover(page: Page, lon: float, lat: float) -> None:
    x, y = page.evaluate(
        "([lat, lon]) => { const p = window[GRIDGOV.map].latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    box = page.locator(".folium-map").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_selector(".leaflet-tooltip", timeout=5_000)


def test_a_posted_incident_shows_on_the_map_without_reload(server: str, demo_city: Engine, sign_in: SignIn) -> None:
    poster = sign_in("gw-test", Role.DISTRICT, "321111")
    sign_in("district-viewer", Role.DISTRICT, "321111")
    requests: list[Request] = []
    failed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
        page.on("request", lambda r: requests.append(r))
        page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
        page.on("response", lambda r: failed.append(f"{r.url} {r.status}") if r.status >= 400 else None)
        page.on("pageerror", lambda e: failed.append(f"script error: {e}"))
        page.on("console", lambda m: failed.append(f"console: {m.text} at {m.location}") if m.type == "error" else None)
        page.goto(f"{server}/map", wait_until="load")  # not signed in: the sign-in form, then back to the map
        assert "/login" in page.url
        page.fill("input[name=username]", "district-viewer")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/map")
        # connected: the feed has found the topics' ends ("ready"), so what is posted now reaches the page
        page.wait_for_function("window.gridgovLive && window.gridgovLive.connected", timeout=15_000)
        page.wait_for_function("window[GRIDGOV.grids].drawn", timeout=15_000)  # every vector tile painted
        fetched = [r.url.split("/v1/map/tiles/")[1].split(".mvt")[0] for r in requests if "/v1/map/tiles/" in r.url]
        # the head fetched the first view's tiles, which the layer then painted: none twice, none in vain
        assert sorted(fetched) == sorted(set(page.evaluate(DATA_TILES))), fetched
        code, lon, lat = grid_point(demo_city, 40)
        _hover(page, lon, lat)
        tooltip = page.locator(".leaflet-tooltip").inner_text()
        assert code in tooltip and "未结案件" in tooltip, tooltip  # the grid under the pointer, from the tile
        _, lon, lat = grid_point(demo_city, 77)
        start = time.monotonic()
        response = httpx.post(
            f"{server}/v1/events", json=event_body(lon, lat, category="8302"), headers=poster, timeout=10
        )
        assert response.status_code == 202
        page.wait_for_function("window.gridgovLive.points >= 1", timeout=20_000)
        seen_after = time.monotonic() - start
        _screenshot(page, "map-city.png")
        page.goto(f"{server}/map?area=321111002&metric=patrolled_today", wait_until="load")
        page.wait_for_function("window.gridgovLive && window.gridgovLive.connected", timeout=15_000)
        _screenshot(page, "map-street.png")
        browser.close()
    outside = [r.url for r in requests if not r.url.startswith(server) and not r.url.startswith("data:")]
    assert outside == [], outside
    assert [f for f in failed if "/v1/live" not in f] == []  # the feed's stream is cut at page change
    print(f"incident on the map {seen_after:.2f} s after the POST")
