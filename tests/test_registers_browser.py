"""The registers in Debian's Chromium, in Chinese, on the real services.

A clerk uploads a file with bad rows, reads each kind reported by line and column, fixes it and imports it;
a gridworker opens a due visit's household on the phone and proposes a move; the community supervisor
approves it on the workbench; a building head (楼栋长) reports from their building and the grid's
gridworker holds the case.
"""

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.clock import start_clocks
from registers.ids import check_digit
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_fixtures import grid_point, running_worker
from tests.registers_fixtures import add_household
from tests.server import serve
from tests.test_app_browser import WAIT_MS, _phone, _report, _sign_in, wait_recorded_by
from tests.test_map_browser import ARGS, CHROMIUM
from tests.test_workbench_browser import READABLE, foreign_words

G = 243  # a demo grid no other test uses
METRE = 1 / 111_000


def _id(first17: str) -> str:
    return first17 + check_digit(first17)


@pytest.fixture(scope="module")
def server(settings: Settings, demo_city: Engine) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium")
    with running_worker(settings, demo_city, "registers-browser"), serve(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        yield _launch(p)


def _launch(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@pytest.fixture(scope="module")
def place(demo_city: Engine, settings: Settings) -> dict[str, object]:
    grid, lon, lat = grid_point(demo_city, G)
    household = add_household(
        demo_city, settings, grid, (lon, lat), "0101", [("周大", _id("11010519500505001"), ())], date(2026, 1, 1), "951"
    )
    other = add_household(
        demo_city, settings, grid, (lon, lat), "0102", [("吴二", _id("11010519600606002"), ())], date(2026, 1, 1), "951"
    )
    return {"grid": grid, "point": (lon, lat), "household": household, "other": other, "building": grid + "951"}


def _desk(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context(locale="zh-CN", bypass_csp=True).new_page()
    page.goto(f"{base}/work/registers", wait_until="load")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/work/registers")
    return page


def _people_csv(rows: list[str]) -> bytes:
    header = "姓名,身份证号,电话,与户主关系,楼栋编码,单元,室,标签"
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def _check(page: Page, name: str = "", content: bytes = b"") -> str:
    """Choose a file and check it (no file: import the one checked), then wait for the report; its summary."""
    if name:
        file = {"name": name, "mimeType": "text/csv", "buffer": content}
        page.set_input_files("#import input[name=file]", files=[file])  # type: ignore[list-item]
    page.evaluate("window.gridgovRegisters.last = null")
    page.click("#import button[value=true]" if name else "#do-import")
    page.wait_for_function("window.gridgovRegisters.last !== null", timeout=WAIT_MS)
    return page.inner_text("#summary")


def test_a_clerk_checks_a_file_reads_each_bad_row_in_chinese_fixes_it_and_imports_it(
    server: str, browser: Browser, place: dict[str, object], sign_in: SignIn, demo_city: Engine
) -> None:
    grid, building = str(place["grid"]), str(place["building"])
    sign_in("reg-clerk", Role.COMMUNITY, grid[:12])
    page = _desk(browser, server, "reg-clerk")
    page.goto(f"{server}/work/registers/import", wait_until="load")
    good = [
        f"郑一,{_id('11010519700707003')},13800138000,户主,{building},1,0201,",
        f"郑二,{_id('11010519720808004')},,配偶,{building},1,0201,",
    ]
    bad = [
        good[0],
        f"郑三,{_id('11010519700707003')[:17]}9,,子,{building},1,0201,",  # a mistyped check digit
        f"郑四,{_id('11010519800909005')},,子,{grid}999,1,0202,",  # no such building
        f",{_id('11010519811010006')},,子,{building},1,0203,",  # no name
        f"郑五,{_id('11010519821111007')},,子,{building},1,0204,,多余,多余",  # two cells beyond the header
        f"郑六,{_id('11010519831212008')},,子,{building},1,0205,外星人",  # an unknown tag
        good[1],
    ]
    summary = _check(page, "人员.csv", _people_csv(bad))
    assert "7 行" in summary and "5 行有误" in summary and "仅检查" in summary
    rows = page.locator("#report tbody tr").all_inner_texts()
    found = {int(r.split("\t")[0]): r for r in rows}
    assert "身份证号" in found[3] and "校验码" in found[3]
    assert "楼栋编码" in found[4] and "没有楼栋" in found[4]
    assert "姓名" in found[5]
    assert "第 9 列" in found[6] and "多出 2 个单元格" in found[6]
    assert "标签" in found[7] and "外星人" in found[7]
    assert page.is_disabled("#do-import")  # a file with bad rows is fixed first
    download = page.get_attribute("#download", "href")
    assert download
    csv = page.request.get(server + download)
    assert csv.ok and "校验码" in csv.text() and csv.text().startswith("\ufeff行号")

    summary = _check(page, "人员.csv", _people_csv(good))
    assert "0 行有误" in summary and page.is_enabled("#do-import")
    summary = _check(page)
    assert "新增 2" in summary, summary
    with demo_city.connect() as conn:
        added = conn.execute(
            text("SELECT count(*) FROM person p JOIN household h ON h.id = p.household_id WHERE h.building_code = :b"
                 " AND p.name LIKE '郑%'"),
            {"b": building},
        ).scalar_one()  # fmt: skip
    assert added == 2
    page.goto(f"{server}/work/registers/import", wait_until="load")
    assert page.locator("#imports tbody tr").count() >= 3  # kept, each with its report


def test_a_gridworker_opens_a_due_visit_and_proposes_a_move_the_community_approves(
    server: str, browser: Browser, place: dict[str, object], sign_in: SignIn, demo_city: Engine
) -> None:
    grid, (lon, lat) = str(place["grid"]), place["point"]  # type: ignore[misc]
    sign_in("reg-gw", Role.GRIDWORKER, grid)
    sign_in("reg-community", Role.COMMUNITY, grid[:12])
    phone = _phone(browser, lon, lat).new_page()
    phone.goto(f"{server}/app", wait_until="load")
    _sign_in(phone, "reg-gw")
    due = phone.locator(f"#visits li[data-household='{place['household']}'] button.link")
    due.wait_for(timeout=WAIT_MS)
    due.click()
    phone.wait_for_function("document.querySelectorAll('#hh-people li').length === 1", timeout=WAIT_MS)
    assert "周大" in phone.inner_text("#hh-people")
    assert "0101" in phone.inner_text("#hh-address")
    phone.select_option("#change-kind", "move_person")
    phone.fill("#change-form input[name=into]", str(place["other"]))
    phone.fill("#change-form input[name=reason]", "搬到隔壁与子女同住")
    phone.click("#change-form button[type=submit]")
    phone.wait_for_function("document.getElementById('change-note').textContent.includes('待发')")
    phone.click("#hh-back")
    phone.fill("#people-search input[name=q]", "吴二")  # the household to move into, found by name
    phone.click("#people-search button")
    phone.locator("#found-people button.link").click()
    phone.wait_for_function("document.getElementById('hh-people').textContent.includes('吴二')", timeout=WAIT_MS)
    deadline = time.monotonic() + 60
    proposed = None
    while proposed is None and time.monotonic() < deadline:
        with demo_city.connect() as conn:
            proposed = conn.execute(
                text("SELECT id, state FROM register_change WHERE proposed_by = 'reg-gw' AND kind = 'move_person'")
            ).one_or_none()
        time.sleep(0.2)
    assert proposed is not None and proposed.state == "proposed"

    desk = _desk(browser, server, "reg-community")
    desk.goto(f"{server}/work/registers/changes", wait_until="load")
    row = desk.locator(f"#changes tr[data-change='{proposed.id}']")
    assert "迁移人员" in row.inner_text() and "周大" in row.inner_text() and "搬到隔壁" in row.inner_text()
    row.locator("button[value=true]").click()
    row.locator("text=已生效").wait_for(timeout=WAIT_MS)
    desk.goto(f"{server}/work/registers/households/{place['other']}", wait_until="load")
    assert "周大" in desk.inner_text("#members")
    for path in (
        "/work/registers",
        f"/work/registers/buildings/{place['building']}",
        "/work/registers/changes?state=applied",
    ):
        desk.goto(server + path, wait_until="load")
        assert foreign_words(desk.evaluate(READABLE)) == [], path  # Chinese throughout


def test_a_building_head_reports_from_their_building_and_the_gridworker_holds_it(
    server: str, browser: Browser, place: dict[str, object], sign_in: SignIn, settings: Settings, demo_city: Engine
) -> None:
    grid, (lon, lat) = str(place["grid"]), place["point"]  # type: ignore[misc]
    sign_in("reg-gw-holder", Role.GRIDWORKER, grid)
    sign_in("reg-head", Role.BUILDING_HEAD, str(place["building"]))
    phone = _phone(browser, lon, lat + 10 * METRE).new_page()
    phone.goto(f"{server}/app", wait_until="load")
    _sign_in(phone, "reg-head")
    phone.wait_for_function("document.querySelectorAll('#building-list button.link').length >= 2", timeout=WAIT_MS)
    assert phone.is_hidden("#checkin") and phone.is_hidden("nav button[data-tab=cases]")
    phone.click(f"#building-list button[data-household='{place['other']}']")
    phone.wait_for_function("document.querySelectorAll('#hh-people li').length >= 1", timeout=WAIT_MS)
    assert "********" in phone.inner_text("#hh-people") and phone.is_hidden("#change-form")  # masked, no changes

    rules = settings.rules()
    category = next(
        c for c, k in sorted(rules.known.items()) if rules.self_handle(c) and k.group not in ("sj90", "sj91")
    )
    phone.click("#hh-back")
    _report(phone, category, "楼道灯坏了")
    events = wait_recorded_by(demo_city, "reg-head", 1)
    assert len(events) == 1 and events[0]["grid_code"] == grid
    start_clocks(demo_city, rules)
    with demo_city.connect() as conn:
        assignee = conn.execute(text('SELECT assignee FROM "case" WHERE id = :id'), {"id": events[0]["id"]}).scalar()
        workers = (
            conn.execute(
                text("SELECT username FROM app_user WHERE role = 'gridworker' AND scope = :g ORDER BY username"),
                {"g": grid},
            )
            .scalars()
            .all()
        )
    assert "reg-gw-holder" in workers and assignee == workers[0]  # the grid's (first) gridworker, not the head
