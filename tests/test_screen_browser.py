"""The command centre's wall screen in Debian's Chromium at 1920×1080 (and a 1366×768 laptop), on the real services."""

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_fixtures import event_body, grid_point, running_worker, wait_recorded
from tests.server import serve
from tests.test_map_browser import ARGS, CHROMIUM, SCREENSHOTS
from web.screen import BACKLOG_TILES, TILES

STREET_GRID = 130  # the screen shows this grid's street; the test's reports are posted in it
FIELDS = {"received_today": "received"}  # the tile's field of /v1/indicators where the names differ


@pytest.fixture(scope="module")
def server(settings: Settings, demo_city: Engine) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium")
    with running_worker(settings, demo_city, "screen-test"), serve(create_app(settings)) as base:
        yield base


# The screen's grid colours (maps/static/screen.js): a grid of v open cases has the colour of the first break
# it does not exceed.
SCREEN_BREAKS = [0, 1, 3, 6]
SCREEN_CLASSES = ["#163a5f", "#1f6f8b", "#f0a500", "#e4572e", "#c1121f"]
# The pixel of the grid layer's own canvas (not the points over it) at a lat/lon: [r, g, b, a].
PIXEL = """([lat, lon]) => {
  const grids = window.gridgovScreenGrids, map = grids._map;
  const at = map.latLngToContainerPoint(L.latLng(lat, lon)), box = map.getContainer().getBoundingClientRect();
  const x = box.left + at.x, y = box.top + at.y;
  const inside = (r) => r.left <= x && x < r.right && r.top <= y && y < r.bottom;
  const tile = [...grids.getContainer().querySelectorAll("canvas")].find((c) => inside(c.getBoundingClientRect()));
  const rect = tile.getBoundingClientRect();
  const px = Math.floor(((x - rect.left) * tile.width) / rect.width);
  const py = Math.floor(((y - rect.top) * tile.height) / rect.height);
  return Array.from(tile.getContext("2d").getImageData(px, py, 1, 1).data);
}"""


# What the screen lays out, each a box that must lie inside the window and meet no other; and text that
# must fit its box (no clipped or spilling label). Returns what is wrong, in words.
OVERLAPS = """(() => {
  const boxes = [...document.querySelectorAll(
    "header h1, #status, #clock, header a, .tile .label, .tile .value, h2, .chart, #map, #ticker")]
    .map((e) => [e.id || e.dataset.tile || e.className || e.tagName + ":" + e.textContent.slice(0, 8),
                 e.getBoundingClientRect(), e]);
  const wrong = [];
  for (const [name, r, e] of boxes) {
    if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) wrong.push(`${name} off screen`);
    const words = !e.matches(".chart, #map, #ticker");  // their own drawing is clipped to them; words must fit
    const spills = e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1;
    if (words && spills) wrong.push(`${name} spills`);
  }
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, p] = [boxes[i][1], boxes[j][1]];
      if (a.left < p.right - 0.5 && p.left < a.right - 0.5 && a.top < p.bottom - 0.5 && p.top < a.bottom - 0.5)
        wrong.push(`${boxes[i][0]} over ${boxes[j][0]}`);
    }
  return wrong;
})()"""


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _shown(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    return (
        f"{value * 100:.1f}%"
        if key.endswith("_rate") or key.endswith("_minor") or key.endswith("coverage")
        else str(value)
    )


def test_the_screen_shows_todays_indicators_and_a_live_ticker(server: str, demo_city: Engine, sign_in: SignIn) -> None:
    grid, lon, lat = grid_point(demo_city, STREET_GRID)
    street = grid[:9]
    poster = sign_in("screen-gw", Role.GRIDWORKER, grid)
    viewer = sign_in("screen-viewer", Role.DISTRICT, grid[:6])
    lamp = {"condition": "1"}  # 路灯: 不亮
    bodies = [
        event_body(lon, lat, category=c) | {"reporter": "screen-gw"} | (lamp if c == "BJ0116" else {})
        for c in ("0102", "BJ0116", "8401")
    ]
    for body in bodies:
        assert httpx.post(f"{server}/v1/events", json=body, headers=poster, timeout=10).status_code == 202
    assert len(wait_recorded(demo_city, [b["id"] for b in bodies])) == 3
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
        page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.goto(f"{server}/screen?area={street}", wait_until="load")
        page.fill("input[name=username]", "screen-viewer")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_function("window.gridgovScreen && window.gridgovScreen.refreshed >= 1", timeout=30_000)
        page.wait_for_function("window.gridgovScreen.connected", timeout=15_000)
        shown = page.evaluate("window.gridgovScreen")
        day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        assert shown["day"] == day
        api = httpx.get(
            f"{server}/v1/indicators", params={"area": street, "from": day, "to": day}, headers=viewer
        ).json()
        assert api["received"] >= 3 and api["open"] is not None
        backlog = httpx.get(f"{server}/v1/indicators/backlog", params={"area": street}, headers=viewer).json()
        assert backlog["awaiting_intake"] >= 3  # the three reports, not taken in yet
        for key in TILES:
            expected = (backlog if key in BACKLOG_TILES else api)[FIELDS.get(key, key)]
            assert shown["tiles"][key] == expected, key
            tile = page.locator(f"[data-tile={key}]")
            rest = key == "patrol_coverage" and api["working_days"] == 0
            assert tile.inner_text() == ("休息日不巡查" if rest else _shown(key, expected)), key
            box = tile.bounding_box()
            assert box is not None and box["x"] >= 0 and box["y"] >= 0
            assert box["x"] + box["width"] <= 1920 and box["y"] + box["height"] <= 1080, key
        page.wait_for_function("window.gridgovScreenGrids.drawn", timeout=15_000)  # the grids' vector tiles
        values = httpx.get(f"{server}/v1/map/values", params={"area": street}, headers=viewer).json()["values"]
        under = page.evaluate("([lat, lon]) => window.gridgovScreenGrids.gridAt(L.latLng(lat, lon))", [lat, lon])
        assert under["code"] == grid and under["value"] == values[grid] >= 3  # the three reports are open cases
        page.wait_for_function("window.gridgovScreen.refreshed >= 1")  # the values are on the map, painted again
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        r, g, b, a = page.evaluate(PIXEL, [lat, lon])
        colour = SCREEN_CLASSES[sum(values[grid] > edge for edge in SCREEN_BREAKS)]
        assert [abs(x - y) <= 2 for x, y in zip((r, g, b), _rgb(colour), strict=True)] == [True] * 3, (r, g, b, colour)
        assert abs(a - 0.75 * 255) <= 2  # the grid's own colour class, painted at the layer's opacity
        for chart in ("ranking", "mix", "trend7", "trend30"):
            assert page.locator(f"#{chart} canvas").count() == 1, chart
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "screen.png"))

        time.sleep(1.0)  # the feed reads from the topics' ends: let it take its position
        seen = page.evaluate("window.gridgovScreen.ticker")
        body = event_body(lon, lat, category="0151") | {"reporter": "screen-gw"}
        start = time.monotonic()
        assert httpx.post(f"{server}/v1/events", json=body, headers=poster, timeout=10).status_code == 202
        page.wait_for_function(
            f"window.gridgovScreen.ticker > {seen} && window.gridgovScreen.lastReport === '{body['id']}'",
            timeout=20_000,
        )
        reached = time.monotonic() - start
        assert "道路破损" in page.inner_text("#ticker li:first-child")

        page.set_viewport_size({"width": 1366, "height": 768})  # a laptop: everything on the screen, nothing overlaps
        page.wait_for_timeout(300)
        assert page.evaluate(OVERLAPS) == []
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "screen-1366.png"))
        browser.close()
    assert [u for u in requests if not u.startswith(server) and not u.startswith("data:")] == []
    assert [e for e in errors if "/v1/live" not in e] == []
    print(f"report on the ticker {reached:.2f} s after the POST")
