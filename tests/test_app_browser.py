"""The gridworker's phone app in Debian's Chromium (phone viewport, fixed position), on the real services.

Offline is real: the API server is stopped as well as the browser's network switched off.
"""

import io
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.loop import Action
from cases.rules import load_rules
from cases.store import loop_cases, take_in, transition
from db.engine import make_engine
from db.tables import case as case_table
from registers.components import ComponentRow, import_components
from registers.ids import check_digit
from streams.outbox import Outbox
from streams.producer import EventProducer
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_fixtures import event_body, grid_point, running_worker, wait_recorded
from tests.registers_fixtures import add_household, write_event
from tests.server import free_port, serve
from tests.test_map_browser import ARGS, CHROMIUM
from tests.test_workbench_browser import READABLE, foreign_words

SCREENSHOTS = os.environ.get("GRIDGOV_SCREENSHOTS")
PHONE = {"width": 360, "height": 800}
WAIT_MS = 60_000


class Api:
    """The API on a fixed port, stopped and started again like a server the phone loses and finds."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._stack: ExitStack | None = None

    def start(self) -> None:
        self._stack = ExitStack()
        self._stack.enter_context(serve(create_app(self.settings), self.port))

    def stop(self) -> None:
        assert self._stack is not None
        self._stack.close()
        self._stack = None


@pytest.fixture(scope="module")
def api(settings: Settings, demo_city: Engine) -> Iterator[Api]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium")
    server = Api(settings)
    with running_worker(settings, demo_city, "app-browser-test"):
        server.start()
        try:
            yield server
        finally:
            if server._stack is not None:
                server.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def _phone_options(lon: float, lat: float, accuracy: float = 12) -> dict[str, Any]:
    return {
        "viewport": PHONE,
        "is_mobile": True,
        "has_touch": True,
        "geolocation": {"longitude": lon, "latitude": lat, "accuracy": accuracy},
        "permissions": ["geolocation"],
        "locale": "zh-CN",
        "service_workers": "allow",
        "bypass_csp": True,  # Playwright's waits evaluate strings; the page's own policy has a test of its own
    }


def _phone(browser: Browser, lon: float, lat: float, accuracy: float = 12) -> BrowserContext:
    return browser.new_context(**_phone_options(lon, lat, accuracy))


def _phone_browser(playwright: Playwright, profile: Path, lon: float, lat: float) -> BrowserContext:
    """A phone's browser with a profile on disk: closed and opened again, it keeps what it stored."""
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=ARGS, **_phone_options(lon, lat)
    )


class Watch:
    """Every request of a context, and the script errors of its pages."""

    def __init__(self, context: BrowserContext) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.follow(context)

    def follow(self, context: BrowserContext) -> None:
        context.on("request", lambda r: self.urls.append(r.url))

    def page(self, context: BrowserContext) -> Page:
        page = context.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"script error: {e}"))
        return page

    def outside(self, base: str) -> list[str]:
        return [u for u in self.urls if not u.startswith(base) and not u.startswith(("data:", "blob:"))]


def _screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


def _sign_in(page: Page, username: str) -> None:
    page.fill("#signin-form input[name=username]", username)
    page.fill("#signin-form input[name=password]", TEST_PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_function("window.gridgov.ready && document.getElementById('signin').hidden", timeout=WAIT_MS)


def _open(page: Page, base: str, username: str) -> None:
    """First visit: sign in, and wait until the service worker holds the shell and the user's data."""
    page.goto(f"{base}/app", wait_until="load")
    assert page.url == f"{base}/app/"
    _sign_in(page, username)
    page.wait_for_function("window.gridgov.swReady && navigator.serviceWorker.controller", timeout=WAIT_MS)
    page.wait_for_function("window.gridgov.position && window.gridgov.grid", timeout=WAIT_MS)


def _check_in(page: Page) -> None:
    page.click("#checkin")
    page.wait_for_function("document.getElementById('checkin-note').textContent !== ''")  # in the outbox


def _waiting(page: Page) -> int:
    return int(page.inner_text("#waiting-count"))


def _wait_waiting(page: Page, n: int) -> None:
    page.wait_for_function(f"document.getElementById('waiting-count').textContent === '{n}'", timeout=WAIT_MS)


def _jpeg(seed: int, size: tuple[int, int] = (1200, 900)) -> dict[str, Any]:
    image = Image.effect_noise(size, 40 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return {"name": f"photo-{seed}.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


def _report(page: Page, category: str, description: str, photo: dict[str, Any] | None = None, shot: str = "") -> None:
    page.click("nav button[data-tab=report]")
    page.fill("#category-search", category)
    page.select_option("#category", category)
    if page.is_visible("#condition-label"):  # a 小类 with filing conditions: the first (井盖缺失、破损 …)
        page.select_option("#condition", "1")
    page.fill("#description", description)
    if photo:
        page.set_input_files("#photos", files=[photo])  # type: ignore[list-item]
        page.wait_for_function("document.getElementById('photo-count').textContent.includes('1')", timeout=WAIT_MS)
        page.wait_for_function(  # the photo is seen before it is sent
            "[...document.querySelectorAll('#photo-thumbs img')].filter(i => i.complete && i.naturalWidth > 0)"
            ".length === 1",
            timeout=WAIT_MS,
        )
        assert page.get_attribute("#photo-thumbs img", "alt") == "照片 1"
    if shot:
        page.evaluate("window.scrollTo(0, 0)")
        _screenshot(page, shot)
    before = _waiting(page)
    page.click("#report-submit")
    page.wait_for_function(f"Number(document.getElementById('waiting-count').textContent) > {before}")


def wait_recorded_by(engine: Engine, reporter: str, n: int) -> list[dict[str, Any]]:
    """The events of ``reporter`` once there are ``n`` of them (the pipeline records them a moment later)."""
    deadline = time.monotonic() + 60
    while len(found := _events(engine, reporter)) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _events(engine: Engine, reporter: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.id::text AS id, e.kind, e.category, e.grid_code, e.description, e.household,"
                " (SELECT count(*) FROM photo p WHERE p.event_id = e.id) AS photos"
                " FROM event e WHERE e.reporter = :who ORDER BY e.occurred_at"
            ),
            {"who": reporter},
        ).mappings()
        return [dict(r) for r in rows]


def test_offline_check_in_and_reports_arrive_exactly_once(
    api: Api, playwright: Playwright, demo_city: Engine, sign_in: SignIn, tmp_path: Path
) -> None:
    grid, lon, lat = grid_point(demo_city, 121)
    sign_in("app-gw-offline", Role.GRIDWORKER, grid)
    context = _phone_browser(playwright, tmp_path, lon, lat)
    watch = Watch(context)
    page = watch.page(context)
    _open(page, api.base, "app-gw-offline")
    manifest = context.request.get(f"{api.base}/app/manifest.webmanifest")
    assert manifest.ok and manifest.json()["start_url"] == "/app/"
    assert page.evaluate("navigator.serviceWorker.getRegistration('/app/').then(r => !!r && !!r.active)")
    assert page.inner_text("#gps-warning") == ""  # inside the grid, ±12 m
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sticks out
    _screenshot(page, "app-day.png")

    api.stop()  # no network at all: the server is gone and the browser is offline
    context.set_offline(True)
    _check_in(page)
    _report(page, "0102", "路边暴露垃圾（离线 1）")
    _report(page, "BJ0113", "井盖缺失破损（离线 2）")
    _report(page, "0102", "垃圾桶满溢（离线 3，带照片）", _jpeg(1, (2400, 1800)), shot="app-report.png")
    _wait_waiting(page, 5)  # four events and a photo
    reloaded = page.reload(wait_until="load")
    assert reloaded is not None and reloaded.from_service_worker  # the shell comes from its cache
    page.wait_for_function("window.gridgov.ready", timeout=WAIT_MS)
    assert _waiting(page) == 5 and page.inner_text("#grid-name") != ""
    page.click("nav button[data-tab=outbox]")
    page.wait_for_selector("#outbox-list li.waiting")
    _screenshot(page, "app-outbox.png")

    # The browser is closed and opened again, still offline, and the token expired meanwhile:
    # the app opens from its cache, asks to sign in again and keeps the outbox.
    page.evaluate(
        "(() => { const s = JSON.parse(localStorage.getItem('gridgov.session'));"
        " s.expiresAt = Date.now() - 1000; localStorage.setItem('gridgov.session', JSON.stringify(s)); })()"
    )
    context.close()
    context = _phone_browser(playwright, tmp_path, lon, lat)
    context.set_offline(True)
    watch.follow(context)
    page = watch.page(context)
    page.goto(f"{api.base}/app/", wait_until="load")
    page.wait_for_selector("#signin:not([hidden])")
    page.wait_for_function("document.getElementById('signin-note').textContent.includes('5')")
    assert _waiting(page) == 5

    api.start()
    context.set_offline(False)
    _sign_in(page, "app-gw-offline")
    _wait_waiting(page, 0)  # all accepted; the pipeline records them a moment later
    # the day's status counts the check-in the server took, without the page being opened again
    page.wait_for_function("document.getElementById('patrol-status').textContent.includes('今日已巡查 1 次')")
    events = wait_recorded_by(demo_city, "app-gw-offline", 4)
    assert sorted(e["kind"] for e in events) == ["incident", "incident", "incident", "patrol"]
    assert {e["grid_code"] for e in events} == {grid}
    assert [e["photos"] for e in events if "带照片" in e["description"]] == [1]
    assert sum(e["photos"] for e in events) == 1
    with demo_city.connect() as conn:  # resized on the phone before it was sent
        width, height = conn.execute(
            text("SELECT p.width, p.height FROM photo p JOIN event e ON e.id = p.event_id WHERE e.reporter = :who"),
            {"who": "app-gw-offline"},
        ).one()
    assert max(width, height) <= 1600 and abs(width / height - 4 / 3) < 0.01
    context.close()
    assert watch.outside(api.base) == [] and watch.errors == []


def test_a_refused_item_shows_why_and_does_not_hold_back_the_rest(
    api: Api, browser: Browser, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, 122)
    _, far_lon, far_lat = grid_point(demo_city, 10)
    sign_in("app-gw-refused", Role.GRIDWORKER, grid)
    context = _phone(browser, lon, lat)
    watch = Watch(context)
    page = watch.page(context)
    _open(page, api.base, "app-gw-refused")
    context.set_geolocation({"longitude": far_lon, "latitude": far_lat, "accuracy": 80})
    page.wait_for_function("document.getElementById('gps-warning').textContent.includes('80')", timeout=WAIT_MS)
    assert "不在本网格内" in page.inner_text("#gps-warning")  # and poor accuracy: ±80 m
    context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 10})
    page.wait_for_function("document.getElementById('gps-warning').textContent === ''", timeout=WAIT_MS)
    context.set_offline(True)  # both go in the outbox before either is sent
    page.click("nav button[data-tab=report]")
    page.fill("#lon", f"{far_lon:.6f}")
    page.fill("#lat", f"{far_lat:.6f}")
    _report(page, "BJ0113", "放错位置的上报")
    page.fill("#lon", f"{lon:.6f}")
    page.fill("#lat", f"{lat:.6f}")
    _report(page, "BJ0113", "正确的上报")
    context.set_offline(False)
    page.click("nav button[data-tab=outbox]")
    page.wait_for_selector("#outbox-list li.refused", timeout=WAIT_MS)
    _wait_waiting(page, 1)  # the refused one; the one behind it went
    shown = page.inner_text("#outbox-list li.refused .error")
    assert "不在您的网格内" in shown and grid in shown  # the server's refusal, worded in the app's language
    assert [e["description"] for e in wait_recorded_by(demo_city, "app-gw-refused", 1)] == ["正确的上报"]
    refused_id = page.get_attribute("#outbox-list li.refused", "data-id")

    page.click("#outbox-list li.refused button.correct")
    assert page.input_value("#description") == "放错位置的上报"
    page.fill("#lon", f"{lon:.6f}")
    page.fill("#lat", f"{lat:.6f}")
    page.click("#report-submit")
    _wait_waiting(page, 0)
    events = wait_recorded_by(demo_city, "app-gw-refused", 2)
    assert sorted(e["description"] for e in events) == sorted(["正确的上报", "放错位置的上报"])
    assert [e["id"] for e in events].count(refused_id) == 1 and {e["grid_code"] for e in events} == {grid}
    context.close()
    assert watch.outside(api.base) == [] and watch.errors == []


def test_cases_given_to_the_gridworker_are_signed_for_resolved_and_returned_and_visits_recorded(
    api: Api, browser: Browser, demo_city: Engine, sign_in: SignIn, settings: Settings
) -> None:
    grid, lon, lat = grid_point(demo_city, 123)
    worker = sign_in("app-gw-case", Role.GRIDWORKER, grid)
    community = sign_in("app-community", Role.COMMUNITY, grid[:12])
    first17 = "11010519480808123"
    household = add_household(
        demo_city,
        settings,
        grid,
        (lon, lat),
        "0301",
        [("独居老人", first17 + check_digit(first17), ())],
        date(2026, 1, 1),
    )

    def dispatched(description: str) -> str:
        body = event_body(lon, lat, category="0151") | {"reporter": "app-gw-case", "description": description}
        assert httpx.post(f"{api.base}/v1/events", json=body, headers=worker, timeout=10).status_code == 202
        assert wait_recorded(demo_city, [body["id"]])
        for action in ({"action": "file"}, {"action": "dispatch", "assignee": "app-gw-case"}):
            response = httpx.post(f"{api.base}/v1/cases/{body['id']}/transitions", json=action, headers=community)
            assert response.status_code == 200, response.text
        return str(body["id"])

    fixed, returned = dispatched("人行道破损"), dispatched("不属本网格的道路")
    context = _phone(browser, lon, lat)
    watch = Watch(context)
    page = watch.page(context)
    _open(page, api.base, "app-gw-case")
    page.click(f"#visits li[data-household='{household}'] button.visit")  # due: never visited
    page.click("nav button[data-tab=cases]")
    row, other = f"#case-list li[data-case='{fixed}']", f"#case-list li[data-case='{returned}']"
    page.click(f"{row} button.accept")
    page.wait_for_selector(f"{row} button.accept[disabled]")  # in the outbox
    page.click(f"{other} button.decline")  # no reason yet: asked for one, nothing queued
    assert page.inner_text(f"{other} p.note") != "" and not page.is_disabled(f"{other} button.decline")
    page.fill(f"{other} input.reason", "道路属市政养护单位，非本网格")
    page.click(f"{other} button.decline")
    page.wait_for_selector(f"{other} button.decline[disabled]")
    _wait_waiting(page, 0)
    page.click("#cases-refresh")
    page.set_input_files(f"{row} input.after-photo", files=[_jpeg(2)])  # type: ignore[list-item]
    page.click(f"{row} button.resolve")
    page.wait_for_selector(f"{row} button.resolve[disabled]")
    _wait_waiting(page, 0)
    case = httpx.get(f"{api.base}/v1/cases/{fixed}", headers=community).json()
    assert case["state"] == "resolved"
    actions = [(h["action"], h["actor"]) for h in case["history"]][-2:]
    assert actions == [("accept", "app-gw-case"), ("resolve", "app-gw-case")]
    photos = httpx.get(f"{api.base}/v1/events/{fixed}/photos", headers=community).json()
    assert [p["stage"] for p in photos] == ["after"] and photos[0]["uploaded_by"] == "app-gw-case"
    back = httpx.get(f"{api.base}/v1/cases/{returned}", headers=community).json()
    assert back["state"] == "filed" and back["history"][-1]["note"] == "道路属市政养护单位，非本网格"
    visits = [e for e in wait_recorded_by(demo_city, "app-gw-case", 3) if e["kind"] == "visit"]
    assert [v["household"] for v in visits] == [household]
    context.close()
    assert watch.outside(api.base) == [] and watch.errors == []


def test_a_503_is_waited_out_for_its_retry_after_and_the_waits_grow_with_jitter(
    api: Api, browser: Browser, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, 126)
    sign_in("app-gw-busy", Role.GRIDWORKER, grid)
    context = _phone(browser, lon, lat)
    watch = Watch(context)
    page = watch.page(context)
    _open(page, api.base, "app-gw-busy")
    # delay(attempts, retry_after_s, random): half of 2 s × 2^(attempts-1) fixed, half random; at most 300 s.
    waits = page.evaluate(
        "[[1, 0, 0], [1, 0, 0.5], [4, 0, 0.5], [4, 0, 0.999], [12, 0, 1], [1, 120, 0], [4, 3, 0.5]]"
        ".map(a => window.gridgovOutbox.delay(...a))"
    )
    assert waits == pytest.approx([1, 1.5, 12, 15.992, 300, 120, 12])
    tries: list[float] = []

    def busy_once(route: Any) -> None:  # the API's answer when it cannot take events now
        tries.append(time.monotonic())
        if len(tries) == 1:
            route.fulfill(status=503, headers={"Retry-After": "3"}, json={"message": "the broker is unavailable"})
        else:
            route.continue_()

    context.route("**/v1/events", busy_once)  # the context: it sees what passes through the service worker too
    _check_in(page)
    _wait_waiting(page, 0)
    assert len(tries) == 2 and tries[1] - tries[0] >= 3  # not before Retry-After
    assert [e["kind"] for e in wait_recorded_by(demo_city, "app-gw-busy", 1)] == ["patrol"]
    context.close()
    assert watch.outside(api.base) == [] and watch.errors == []


def test_the_pages_policy_lets_it_reach_this_site_alone(
    api: Api, browser: Browser, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, 127)
    sign_in("app-gw-policy", Role.GRIDWORKER, grid)
    context = browser.new_context(**(_phone_options(lon, lat) | {"bypass_csp": False}))
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{api.base}/app/", wait_until="load")
    page.fill("#signin-form input[name=username]", "app-gw-policy")
    page.fill("#signin-form input[name=password]", TEST_PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector(".leaflet-interactive")  # the grid's outline is drawn
    assert refused == []  # the app itself needs nothing the policy forbids
    outcome = page.evaluate("fetch('http://198.51.100.7/').then(() => 'reached', () => 'refused')")
    assert outcome == "refused" and any("connect-src" in r for r in refused)
    context.close()


def test_a_gridworker_follows_what_became_of_their_reports_offline_and_back(
    api: Api, browser: Browser, demo_city: Engine, sign_in: SignIn, settings: Settings
) -> None:
    grid, lon, lat = grid_point(demo_city, 134)
    sign_in("app-gw-fate", Role.GRIDWORKER, grid)
    rules, now = settings.rules(), datetime.now(UTC)

    def report(description: str) -> uuid.UUID:
        body = event_body(lon, lat, category="0151", reporter="app-gw-fate", description=description)
        return write_event(demo_city, body, now)

    closed, refused, repeat, reworked = (report(d) for d in ("井盖缺失", "楼内漏水", "同一处井盖", "路面塌陷"))
    context = _phone(browser, lon, lat)
    watch = Watch(context)
    page = watch.page(context)
    _open(page, api.base, "app-gw-fate")
    page.click("nav button[data-tab=mine]")
    page.wait_for_selector(f"#report-list li[data-case='{reworked}']")
    context.set_offline(True)  # the phone loses the network; meanwhile the centre decides on the reports
    api.stop()
    for case, steps in (
        (closed, [(Action.FILE, ""), (Action.DISPATCH, ""), (Action.ACCEPT, ""), (Action.RESOLVE, "已盖好"),
                  (Action.VERIFY, "")]),
        (refused, [(Action.REFUSE, "属物业自管范围，请联系物业")]),
        (reworked, [(Action.FILE, ""), (Action.DISPATCH, ""), (Action.ACCEPT, ""), (Action.RESOLVE, "已修"),
                    (Action.REJECT_RESOLUTION, "仍有裂缝，重新修补")]),
        (repeat, [(Action.MERGE, "同一处")]),
    ):  # fmt: skip
        for action, note in steps:
            into = reworked if action is Action.MERGE else None  # the open case it repeats
            transition(demo_city, case, action, "app-community", note, now, rules, assignee="app-gw-fate", into=into)
    page.click("#mine-refresh")  # offline: the last copy, no error
    page.wait_for_timeout(500)
    assert page.locator(f"#report-list li[data-case='{refused}']").count() == 1
    api.start()
    context.set_offline(False)
    page.wait_for_function("window.gridgov.live === true", timeout=WAIT_MS)  # the live feed, open again
    given = report("窨井冒水")  # dispatched to them now: the open app is told through the feed
    for action in (Action.FILE, Action.DISPATCH):
        transition(demo_city, given, action, "app-community", "", now, rules, assignee="app-gw-fate")
    publish(settings)
    page.wait_for_selector("#notice:not([hidden])", timeout=WAIT_MS)
    assert page.inner_text("#notice").startswith("新案件 ") and "已派给您" in page.inner_text("#notice")
    page.click("#mine-refresh")
    row = "#report-list li[data-case='{}']".format
    page.wait_for_function(
        f"document.querySelector(\"{row(closed)} .fate-state\").textContent === '已结案'", timeout=WAIT_MS
    )
    assert page.inner_text(f"{row(refused)} .fate-state") == "不予立案"
    assert "理由：属物业自管范围，请联系物业" in page.inner_text(row(refused))
    mine = httpx.get(f"{api.base}/v1/me/reports", headers=sign_in("app-gw-fate", Role.GRIDWORKER, grid)).json()
    into_number = next(r["number"] for r in mine["reports"] if r["id"] == str(reworked))
    assert page.inner_text(f"{row(repeat)} .fate-state") == "重复上报，已合并"
    assert f"已合并到案卷 {into_number}" in page.inner_text(row(repeat))
    assert page.inner_text(f"{row(reworked)} .fate-state") == "处置中"
    assert "返工原因：仍有裂缝，重新修补" in page.inner_text(row(reworked))
    page.click(f"{row(closed)} details summary")  # the history, in words
    assert "核查通过" in page.inner_text(f"{row(closed)} details")
    _screenshot(page, "app-reports.png")
    page.click("nav button[data-tab=cases]")  # the case sent back: its card says why
    card = f"#case-list li[data-case='{reworked}']"
    page.wait_for_selector(card, timeout=WAIT_MS)
    assert "返工原因：仍有裂缝，重新修补" in page.inner_text(card)
    page.click(f"{card} button.show-map")
    page.wait_for_selector(f"{card} .case-map .leaflet-marker-icon")
    assert page.get_attribute(f"{card} a.route", "href").startswith("geo:")  # type: ignore[union-attr]
    _screenshot(page, "app-case-card.png")
    context.close()
    assert watch.outside(api.base) == [] and watch.errors == []


def publish(settings: Settings) -> None:
    """What the clock's tick does last: the transitions stored go to the topics."""
    producer = EventProducer(settings.kafka)
    outbox = Outbox(settings_engine := make_engine(settings.database.url), settings.kafka, producer)
    try:
        while outbox.publish():
            pass
    finally:
        outbox.close()
        producer.close()
        settings_engine.dispose()


def test_a_gridworker_reads_chinese_on_every_tab(
    api: Api, browser: Browser, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, 129)
    sign_in("app-gw-129", Role.GRIDWORKER, grid)
    context = _phone(browser, lon, lat)
    page = context.new_page()
    _open(page, api.base, "app-gw-129")
    _check_in(page)  # something in the outbox, with its time
    found = {}
    for tab in ("day", "report", "cases", "mine", "outbox"):
        page.click(f"nav [data-tab={tab}]")
        page.wait_for_timeout(300)
        if words := foreign_words(page.evaluate(READABLE)):
            found[tab] = words
    context.close()
    assert found == {}


LAMP_GRID = 313  # a demo grid used by no other test


def test_a_lamp_fault_names_the_nearest_lamp_and_goes_to_its_owner(
    api: Api, browser: Browser, demo_city: Engine, sign_in: SignIn
) -> None:
    """Two street lights 4 m and 16 m from the gridworker, a cover 2 m: the app offers the lights, nearest first."""
    grid, lon, lat = grid_point(demo_city, LAMP_GRID)
    metre = 1 / 111_320
    lamps = [f"{grid[:6]}0116{n:06d}" for n in (913001, 913002)]
    rows = [
        _component(lamps[1], "BJ0116", "路灯", lon, lat + 16 * metre, grid, "金山路灯所"),
        _component(lamps[0], "BJ0116", "路灯", lon, lat + 4 * metre, grid, "润州区路灯管理所"),
        _component(f"{grid[:6]}0101913003", "BJ0101", "上水井盖", lon, lat + 2 * metre, grid, "自来水公司"),
    ]
    with demo_city.begin() as conn:
        import_components(conn, rows)
    sign_in("app-gw-lamp", Role.GRIDWORKER, grid)
    context = _phone(browser, lon, lat, accuracy=5)
    watch = Watch(context)
    page = watch.page(context)
    try:
        _open(page, api.base, "app-gw-lamp")
        page.click("nav button[data-tab=report]")
        page.fill("#category-search", "路灯")
        page.select_option("#category", "BJ0116")
        page.wait_for_function("document.querySelectorAll('#component option').length === 3", timeout=WAIT_MS)
        offered = page.eval_on_selector_all("#component option", "os => os.map(o => [o.value, o.textContent])")
        assert [value for value, _ in offered] == ["", lamps[0], lamps[1]]  # none, then nearest first
        assert offered[1][1] == f"路灯 {lamps[0]} · 4 m" and offered[0][1] == "不指定部件"
        assert page.input_value("#component") == lamps[0]  # the nearest is chosen
        assert page.is_visible("#condition-label")  # 路灯 has two filing conditions: one is named
        page.select_option("#condition", "1")
        page.fill("#description", "路灯不亮")
        page.click("#report-submit")
        _wait_waiting(page, 0)
        case = _taken_in(demo_city, "app-gw-lamp")
        assert (case["component"], case["condition"], case["unit"]) == (lamps[0], "1", "润州区路灯管理所")
        assert ("routed", f"路灯 {lamps[0]} 权属：润州区路灯管理所") in case["history"]
    finally:
        context.close()
        with demo_city.begin() as conn:
            conn.execute(text("DELETE FROM component WHERE grid_code = :g"), {"g": grid})
    assert watch.outside(api.base) == [] and watch.errors == []


def _component(code: str, category: str, name: str, lon: float, lat: float, grid: str, owner: str) -> ComponentRow:
    return ComponentRow(0, code, category, name, shapely.Point(lon, lat), grid, owner, None, "完好", None)


def _taken_in(engine: Engine, reporter: str) -> dict[str, Any]:
    """The case of ``reporter``'s one report once the clock has taken it in (its history holds a row)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.begin() as conn:
            row = conn.execute(
                text(
                    'SELECT c.id, c.component, c.condition, c.unit FROM "case" c JOIN event e ON e.id = c.id'
                    " WHERE e.reporter = :who"
                ),
                {"who": reporter},
            ).one_or_none()
            if row is not None:
                take_in(
                    conn,
                    conn.execute(loop_cases().where(case_table.c.id == row.id).with_for_update()).one(),
                    load_rules(),
                )
                history = conn.execute(
                    text("SELECT action, note FROM case_transition WHERE case_id = :id ORDER BY seq"), {"id": row.id}
                ).all()
                unit = conn.execute(text('SELECT unit FROM "case" WHERE id = :id'), {"id": row.id}).scalar_one()
                return {"component": row.component, "condition": row.condition, "unit": unit,
                        "history": [tuple(h) for h in history]}  # fmt: skip
        time.sleep(0.2)
    raise AssertionError(f"no case of {reporter} within 60 s")
