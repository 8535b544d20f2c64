"""The workbench in Debian's Chromium at 1366×768, on the real services: a community supervisor works cases
through the page's buttons, a gridworker through the API; a department signs for and returns its cases."""

import io
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import shapely
from PIL import Image
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.clock import start_clocks
from cases.reads import QUEUES
from geo.demo import DEMO_DISTRICT
from registers.rows import BuildingRow
from registers.store import import_buildings
from streams.outbox import Outbox
from streams.producer import EventProducer
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_fixtures import event_body, grid_point, running_worker, wait_recorded
from tests.server import serve
from tests.test_map_browser import ARGS, CHROMIUM, SCREENSHOTS

GRID = 131  # a demo grid used by no other test
# What a Chinese page may show in Latin letters: codes and ids (letters with digits), units, and these words.
ALLOWED = {"LIVE", "EN", "Excel", "JSON", "SLA", "gridgov", "km", "m", "h", "min", "PDF", "Leaflet", "OpenStreetMap"}
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


# The text a person reads, without what the page marks as not to be translated (logins, codes, ids).
READABLE = """(() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll("[translate=no], script, style").forEach((e) => e.remove());
  document.body.append(Object.assign(copy, { hidden: false }));  // innerText needs it laid out
  const text = copy.innerText;
  copy.remove();
  return text;
})()"""


def foreign_words(text: str) -> list[str]:
    """The English words and ISO timestamps in a page's visible text (codes, ids and logins excepted)."""
    tokens = re.findall(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text)  # whole runs: an id such as 9236251b is a code
    words = {w for w in tokens if re.search(r"[A-Za-z]", w) and not re.search(r"\d", w)}
    return sorted(words - ALLOWED) + ISO_MOMENT.findall(text)


@pytest.fixture(scope="module")
def server(settings: Settings, demo_city: Engine) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium")
    with running_worker(settings, demo_city, "workbench-test"), serve(create_app(settings)) as base:
        yield base


def _photo() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((320, 240), 50).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def _report(base: str, engine: Engine, headers: dict[str, str], reporter: str, category: str, text: str) -> str:
    _, lon, lat = grid_point(engine, GRID)
    body = event_body(lon, lat, category=category) | {"reporter": reporter, "description": text}
    assert httpx.post(f"{base}/v1/events", json=body, headers=headers, timeout=10).status_code == 202
    assert wait_recorded(engine, [body["id"]])
    return str(body["id"])


def _api(base: str, case: str, headers: dict[str, str], **body: str) -> dict[str, Any]:
    response = httpx.post(f"{base}/v1/cases/{case}/transitions", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _state(base: str, case: str, headers: dict[str, str]) -> str:
    return str(httpx.get(f"{base}/v1/cases/{case}", headers=headers, timeout=10).json()["state"])


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/work", wait_until="load")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/work")
    page.wait_for_function("window.gridgovWork && window.gridgovWork.loaded >= 1")


def _search(page: Page, words: str) -> None:
    loads = page.evaluate("window.gridgovWork.loaded")
    page.fill("#search [name=q]", words)
    page.click("#search button[type=submit]")
    page.wait_for_function(f"window.gridgovWork.loaded > {loads}")


def _act(page: Page, base: str, case: str, action: str, **fields: str) -> None:
    """On the case's page, fill the action's form and submit it; the page reloads when it is done."""
    page.goto(f"{base}/work/cases/{case}", wait_until="load")
    form = f"form[data-action={action}]"
    for name, value in fields.items():
        field = page.locator(f"{form} [name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)  # picked from the list
        else:
            field.fill(value)
    with page.expect_navigation():
        page.click(f"{form} button")


def test_a_community_supervisor_works_cases_from_the_page(server: str, demo_city: Engine, sign_in: SignIn) -> None:
    grid = grid_point(demo_city, GRID)[0]
    worker = sign_in("wb-gw", Role.GRIDWORKER, grid)
    supervisor = sign_in("wb-community", Role.COMMUNITY, grid[:12])
    other = sign_in("wb-other-community", Role.COMMUNITY, "321111001002")  # another community
    _, lon, lat = grid_point(demo_city, GRID)
    with demo_city.begin() as conn:  # the register's building beside the reports: their address
        import_buildings(
            conn, [BuildingRow(0, grid + "951", grid, "金桂园3栋", None, shapely.Point(lon, lat + 0.0002))]
        )
    first = _report(server, demo_city, worker, "wb-gw", "0151", "人行道砖块松动")
    second = _report(server, demo_city, worker, "wb-gw", "0151", "路面坑槽")
    third = _report(server, demo_city, worker, "wb-gw", "0151", "路缘石破损")
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768}, bypass_csp=True)
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        _sign_in(page, server, "wb-community")
        page.fill("#filters [name=grid]", grid)  # other tests leave cases in this community
        page.click("#filters button")
        page.wait_for_function("window.gridgovWork.loaded >= 2")
        listed = page.evaluate("window.gridgovWork.rows.map(r => r.id)")
        assert {first, second, third} <= set(listed)
        assert int(page.inner_text("[data-count=intake]")) >= 3
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "workbench.png"))

        # Found by part of the address, then by the number read off the row; the words marked where they are.
        _search(page, "金桂园")
        assert {first, second, third} <= set(page.evaluate("window.gridgovWork.rows.map(r => r.id)"))
        assert page.inner_text(f"tr[data-case='{first}'] mark") == "金桂园"
        assert "共" in page.inner_text("#search-result")
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "workbench-search.png"))
        number = page.evaluate(f"window.gridgovWork.rows.find(r => r.id === '{first}').number")
        _search(page, number[-9:])
        assert page.evaluate("window.gridgovWork.rows.map(r => r.id)") == [first]
        assert page.inner_text(f"tr[data-case='{first}'] a mark") == number[-9:]
        page.click("#search-clear")  # back to the queues
        page.wait_for_function("window.gridgovWork.q === ''")

        # Take the first in, dispatch it to the gridworker; they fix it through the API; verify it.
        _act(page, server, first, "file")
        _act(page, server, first, "dispatch", assignee="wb-gw")
        assert _state(server, first, supervisor) == "dispatched"
        _api(server, first, worker, action="accept")
        upload = httpx.post(f"{server}/v1/events/{first}/photos?stage=after", content=_photo(), headers=worker)
        assert upload.status_code == 201
        _api(server, first, worker, action="resolve", note="已修复")
        page.goto(f"{server}/work/cases/{first}", wait_until="load")
        assert page.locator(".photos figure").count() == 1  # the after photo, on the case page
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "workbench-case.png"))
        _act(page, server, first, "verify")
        assert _state(server, first, supervisor) == "closed"
        assert "核查通过" in page.inner_text("#history")

        # The second and third: taken in, then dispatched together from the queue.
        _act(page, server, second, "file")
        _act(page, server, third, "file")
        page.goto(f"{server}/work", wait_until="load")
        page.fill("#filters [name=grid]", grid)
        page.click("[data-tab=dispatch]")
        page.wait_for_function(
            f"(ids => ['{second}', '{third}'].every(id => ids.includes(id)))(window.gridgovWork.rows.map(r => r.id))"
        )
        for case in (second, third):
            page.check(f"tr[data-case='{case}'] input.pick")
        loads = page.evaluate("window.gridgovWork.loaded")
        page.click("#filters button")  # the list is drawn again (as the live feed does): the ticks stay
        page.wait_for_function(f"window.gridgovWork.loaded > {loads}")
        assert page.is_checked(f"tr[data-case='{second}'] input.pick")
        page.fill("#batch [name=assignee]", "wb-gw")
        page.click("#batch button")
        page.wait_for_function("document.getElementById('batch-message').textContent.includes('2')")
        assert _state(server, second, supervisor) == _state(server, third, supervisor) == "dispatched"
        loads = page.evaluate("window.gridgovWork.loaded")
        page.click("#filters button")  # the list is drawn again: the confirmation beside the button stays
        page.wait_for_function(f"window.gridgovWork.loaded > {loads}")
        assert page.is_visible("#batch-result") and "2" in page.inner_text("#batch-message")
        page.click("#batch-dismiss")
        assert not page.is_visible("#batch-result")

        # The second comes back fixed and is sent back for rework; then an extension is asked and approved.
        _api(server, second, worker, action="accept")
        httpx.post(f"{server}/v1/events/{second}/photos?stage=after", content=_photo(), headers=worker)
        _api(server, second, worker, action="resolve", note="已填补")
        _act(page, server, second, "reject_resolution", note="仍有积水，重新处理")
        assert _state(server, second, supervisor) == "in_progress"
        _api(server, second, worker, action="extend", note="需等沥青", length="1d")
        page.goto(f"{server}/work", wait_until="load")
        page.wait_for_function("window.gridgovWork && window.gridgovWork.loaded >= 1")  # the counts come by fetch
        assert int(page.inner_text("[data-count=requests]")) >= 1
        _act(page, server, second, "approve")
        case = httpx.get(f"{server}/v1/cases/{second}", headers=supervisor).json()
        assert case["extensions"] == 1 and case["history"][-1]["action"] == "approve"

        # Refusals show in place: a reason the rules require, and what the server refuses.
        page.goto(f"{server}/work/cases/{third}", wait_until="load")
        assert page.locator("form[data-action=file]").count() == 0  # no longer open to it: only what applies now
        page.fill("form[data-action=extend] [name=length]", "99d")
        page.click("form[data-action=extend] button")
        page.wait_for_function("document.querySelector('form[data-action=extend] .error').textContent !== ''")
        assert page.inner_text("form[data-action=extend] .error") == "请填写理由"
        page.fill("form[data-action=extend] [name=note]", "等待材料")
        page.click("form[data-action=extend] button")
        page.wait_for_function(
            "(t => t !== '' && t !== '请填写理由')"
            "(document.querySelector('form[data-action=extend] .error').textContent)"
        )
        shown = page.inner_text("form[data-action=extend] .error")  # in Chinese, the server's words too
        assert shown.startswith("规则不允许此操作") and "每次不超过 10 天" in shown
        assert _state(server, third, supervisor) == "dispatched"
        browser.close()
    for tab in QUEUES:  # another community sees none
        queue = httpx.get(f"{server}/v1/work/queue", params={"tab": tab, "limit": 500}, headers=other).json()
        assert {c["id"] for c in queue["cases"]} & {first, second, third} == set(), tab
    assert [u for u in requests if not u.startswith(server) and not u.startswith("data:")] == []
    provoked = "the server responded with a status of 409"  # the refused extension above
    assert [e for e in errors if "/v1/live" not in e and provoked not in e] == []


def test_a_department_signs_for_an_urgent_case_and_returns_another(
    server: str, demo_city: Engine, sign_in: SignIn, settings: Settings
) -> None:
    grid = grid_point(demo_city, GRID)[0]
    worker = sign_in("wb-gw2", Role.GRIDWORKER, grid)
    unit = sign_in("wb-fire", Role.DEPARTMENT, "消防救援大队")
    signed = _report(server, demo_city, worker, "wb-gw2", "8301", "消防通道被车辆堵塞")
    returned = _report(server, demo_city, worker, "wb-gw2", "8301", "楼道堆放杂物")
    start_clocks(demo_city, settings.rules())  # urgent: sent straight to the unit (直派)
    assert _state(server, signed, unit) == _state(server, returned, unit) == "dispatched"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768}, bypass_csp=True)
        page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        _sign_in(page, server, "wb-fire")
        assert page.get_attribute("[data-tab=sign_in]", "aria-selected") == "true"  # opens on 待签收
        rows = page.evaluate("window.gridgovWork.rows")
        mine = {r["id"]: r for r in rows}
        assert {signed, returned} <= set(mine) and mine[signed]["remaining_s"] is not None
        assert "h" in page.inner_text(f"tr[data-case='{signed}']")  # the sign-in's countdown
        with page.expect_navigation():
            page.click(f"tr[data-case='{signed}'] a")  # from 待签收 to the case, and signed for there
        with page.expect_navigation():
            page.click("form[data-action=accept] button")
        assert _state(server, signed, unit) == "in_progress"
        page.goto(f"{server}/work/cases/{returned}", wait_until="load")
        page.click("form[data-action=decline] button")  # no reason: asked for one
        assert page.inner_text("form[data-action=decline] .error") == "请填写理由"
        _act(page, server, returned, "decline", note="非消防职责，属物业管理")

        # Pushed, not polled: a new urgent case reaches the open inbox through the department's live feed.
        page.goto(f"{server}/work", wait_until="load")
        page.wait_for_function("window.gridgovWork && window.gridgovWork.loaded >= 1", timeout=15_000)
        page.wait_for_timeout(1500)  # the feed reads from the topics' ends: let it take its position
        third = _report(server, demo_city, worker, "wb-gw2", "8301", "消防栓被圈占")
        start_clocks(demo_city, settings.rules())
        producer = EventProducer(settings.kafka)
        outbox = Outbox(demo_city, settings.kafka, producer)
        try:
            while outbox.publish():  # what the engine's tick does: the transitions go to Kafka
                pass
        finally:
            outbox.close()
            producer.close()
        page.wait_for_selector(f"tr[data-case='{third}']", timeout=10_000)  # the page reloads each minute only
        browser.close()
    case = httpx.get(f"{server}/v1/cases/{returned}", headers=worker).json()
    assert case["state"] == "filed" and case["history"][-1]["note"] == "非消防职责，属物业管理"
    assert errors == []


def test_the_monthly_report_prints_on_a4_pages(server: str, demo_city: Engine, sign_in: SignIn) -> None:
    sign_in("wb-district", Role.DISTRICT, DEMO_DISTRICT)
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")  # this month: the cases of the tests above
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1123, "height": 794}, bypass_csp=True)  # A4 landscape at 96 dpi
        _sign_in(page, server, "wb-district")
        page.goto(f"{server}/work/reports/monthly?area={DEMO_DISTRICT}&month={month}", wait_until="load")
        assert "绩效通报" in page.inner_text("h1")
        assert int(page.inner_text("#total td:first-child")) >= 3  # received this month, at least the three above
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "report-monthly.png"), full_page=True)
        page.emulate_media(media="print")
        assert not page.locator(".tools").is_visible()  # the links are not printed
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        browser.close()
    assert pdf.startswith(b"%PDF")
    # A4 landscape is 842 × 595 points; every page of the printout has that size
    sizes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert sizes and {(round(float(w)), round(float(h))) for w, h in sizes} == {(842, 595)}


def test_every_page_runs_under_its_own_policy(server: str, demo_city: Engine, sign_in: SignIn) -> None:
    """Without Playwright's bypass: the map, screen, workbench, a case, escalations and the report need nothing
    their Content-Security-Policy forbids, and the policy does forbid reaching another site."""
    sign_in("wb-district-1", Role.DISTRICT, DEMO_DISTRICT)  # a login is a code (people have no display name yet)
    worker = sign_in("wb-gw-131", Role.GRIDWORKER, grid_point(demo_city, GRID)[0])
    case = _report(server, demo_city, worker, "wb-gw-131", "0151", "井盖缺失")
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    refused: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.on("console", lambda m: refused.append(f"{page.url}: {m.text}") if "Content Security" in m.text else None)
        page.on("pageerror", lambda e: refused.append(f"{page.url}: {e}"))
        page.goto(f"{server}/login?next=/work", wait_until="load")  # no wait_for_function: it needs eval
        page.fill("input[name=username]", "wb-district-1")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/work")
        english: dict[str, list[str]] = {}
        for path in (
            "/map",
            "/screen",
            "/work",
            f"/work/cases/{case}",
            "/escalations",
            f"/work/reports/monthly?area={DEMO_DISTRICT}&month={month}",
        ):
            page.goto(f"{server}{path}", wait_until="load")
            page.wait_for_timeout(1500)  # the page's scripts draw and fetch meanwhile
            if words := foreign_words(page.evaluate(READABLE)):
                english[path] = words
        assert refused == []
        assert english == {}  # a Chinese user reads Chinese: no English word, no ISO timestamp
        outcome = page.evaluate("fetch('http://198.51.100.7/').then(() => 'reached', () => 'refused')")
        browser.close()
    assert outcome == "refused" and any("connect-src" in r for r in refused)


def test_a_sign_in_form_posted_from_another_site_replaces_no_session(
    server: str, demo_city: Engine, sign_in: SignIn
) -> None:
    sign_in("wb-victim-1", Role.DISTRICT, DEMO_DISTRICT)
    sign_in("wb-attacker-1", Role.COMMUNITY, "321111001001")
    evil = (
        f'<form id="f" method="post" action="{server}/login"><input name="username" value="wb-attacker-1">'
        f'<input name="password" value="{TEST_PASSWORD}"><input name="next" value="/work"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.route("http://evil.example/**", lambda route: route.fulfill(body=evil, content_type="text/html"))
        page.goto(f"{server}/login?next=/work", wait_until="load")
        page.fill("input[name=username]", "wb-victim-1")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/work")
        page.goto("http://evil.example/", wait_until="load")  # another site posts its own account's sign-in
        page.wait_for_url(f"{server}/login?**")
        refused = page.url
        me = page.evaluate("fetch('/v1/me').then(r => r.json())")
        browser.close()
    assert "error=form" in refused
    assert me["username"] == "wb-victim-1"  # still the victim's own session


def test_a_district_supervisor_sends_a_case_to_another_unit_with_a_reason(
    server: str, demo_city: Engine, sign_in: SignIn
) -> None:
    """The case page's 改派 form: the units to choose from, the decided one selected; the reason goes in its history."""
    sign_in("wb-district-unit", Role.DISTRICT, DEMO_DISTRICT)
    worker = sign_in("wb-gw-unit", Role.GRIDWORKER, grid_point(demo_city, GRID)[0])
    case = _report(server, demo_city, worker, "wb-gw-unit", "0151", "人行道砖块松动")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768}, bypass_csp=True)  # waits evaluate strings
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _sign_in(page, server, "wb-district-unit")
        page.goto(f"{server}/work/cases/{case}", wait_until="load")
        offered = page.eval_on_selector_all("#reroute [name=unit] option", "os => os.map(o => o.value)")
        assert {"区城市管理局", "区路灯管理所", "消防救援大队"} <= set(offered)
        page.click("#reroute button")  # no reason: asked for one, nothing sent
        assert page.inner_text("#reroute .error") == "请填写理由"
        page.select_option("#reroute [name=unit]", "区住房和城乡建设局")
        page.fill("#reroute [name=reason]", "属道路养护范围")
        with page.expect_navigation():
            page.click("#reroute button")
        assert page.inner_text("#unit") == "区住房和城乡建设局"
        assert "改派" in page.inner_text("table") and "区住房和城乡建设局：属道路养护范围" in page.inner_text("table")
        browser.close()
    assert errors == []
