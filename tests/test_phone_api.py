"""What the phone app reads from the API: its shell and service worker, its libraries, the categories and the
user's grid with ETags, and the cases given to the user."""

import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.pages.phone import LIBS, precache
from api.settings import Settings
from cases.loop import Action
from cases.store import transition
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event

MINE, OTHER = 124, 125  # demo grids used by no other test


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_shell_its_worker_and_every_file_it_keeps_are_served(client: TestClient) -> None:
    root = client.get("/app", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/app/"
    page = client.get("/app/")
    assert page.status_code == 200 and 'rel="manifest" href="/app/manifest.webmanifest"' in page.text
    assert 'data-max-photos="10"' in page.text and 'data-schema-version="2"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]  # the page reaches nothing else
    worker = client.get("/app/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    listed = re.findall(r'"url": "([^"]+)"', worker.text)
    assert listed == [entry["url"] for entry in precache("Asia/Shanghai")] and "/app/" in listed
    for url in listed:  # one missing file would fail the worker's install, and the app would not work offline
        assert client.get(url).status_code == 200, url
    assert {f"/app/lib/{name}" for name in LIBS} - set(listed) == {"/app/lib/workbox-sw.js"}  # imported, not kept


def test_the_manifest_makes_the_app_installable(client: TestClient) -> None:
    response = client.get("/app/manifest.webmanifest")
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["start_url"] == "/app/" and manifest["scope"] == "/app/" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        image = Image.open(io.BytesIO(client.get(icon["src"]).content))
        assert f"{image.width}x{image.height}" == icon["sizes"] and image.format == "PNG"


def test_only_the_apps_own_libraries_are_served(client: TestClient) -> None:
    assert client.get("/app/lib/dexie.min.js").status_code == 200
    for name in ("package.json", "..%2Fleaflet%2Fpackage.json", "dexie.js"):
        response = client.get(f"/app/lib/{name}")
        assert response.status_code in (404, 422), name


def test_categories_carry_an_etag_and_an_unchanged_list_is_a_304(client: TestClient, sign_in: SignIn) -> None:
    headers = sign_in("phone-reader", Role.GRIDWORKER, grid_code(client, MINE))
    first = client.get("/v1/categories", headers=headers)
    tag = first.headers["etag"]
    assert first.status_code == 200 and {c["code"] for c in first.json()} >= {"0102", "9001"}
    again = client.get("/v1/categories", headers=headers | {"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    stale = client.get("/v1/categories", headers=headers | {"If-None-Match": '"an-older-list"'})
    assert stale.status_code == 200 and stale.json() == first.json()


def grid_code(client: TestClient, index: int) -> str:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    return grid_point(engine, index)[0]


def test_my_grid_is_my_own_with_its_outline_and_community(
    client: TestClient, sign_in: SignIn, settings: Settings
) -> None:
    grid = grid_code(client, MINE)
    headers = sign_in("phone-grid", Role.GRIDWORKER, grid)
    response = client.get("/v1/me/grid", headers=headers)
    feature = response.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    props = feature["properties"]
    assert props["code"] == grid and props["parent_code"] == grid[:12] and props["community_name"]
    assert props["tolerance_m"] == settings.locate.locate_tolerance_m
    assert client.get("/v1/me/grid", headers=headers | {"If-None-Match": response.headers["etag"]}).status_code == 304
    lost = sign_in("phone-lost", Role.GRIDWORKER, "999999999999999")
    missing = client.get("/v1/me/grid", headers=lost)
    assert missing.status_code == 404 and "999999999999999" in missing.json()["message"]


def test_my_cases_are_the_open_ones_given_to_me(
    client: TestClient, demo_city: Engine, sign_in: SignIn, settings: Settings
) -> None:
    grid, lon, lat = grid_point(demo_city, MINE)
    headers = sign_in("phone-cases", Role.GRIDWORKER, grid)
    rules = settings.rules()
    now = datetime.now(UTC)

    def case(assignee: str, description: str, *more: Action) -> str:
        body = event_body(lon, lat, category="0151", reporter="phone-cases", description=description)
        case_id = write_event(demo_city, body, now)
        transition(demo_city, case_id, Action.FILE, "phone-community", "", now, rules)
        transition(demo_city, case_id, Action.DISPATCH, "phone-community", "", now, rules, assignee=assignee)
        for action in more:
            transition(demo_city, case_id, action, assignee, "不属本人处置", now, rules)
        return str(case_id)

    to_sign = case("phone-cases", "待签收")
    in_hand = case("phone-cases", "处置中", Action.ACCEPT)
    case("phone-someone-else", "别人的")
    returned = case("phone-cases", "退回", Action.DECLINE)  # back with the community: no longer mine
    cases = client.get("/v1/me/cases", headers=headers).json()["cases"]
    assert {c["id"]: c["state"] for c in cases} == {to_sign: "dispatched", in_hand: "in_progress"}
    assert returned not in {c["id"] for c in cases}
    first = cases[0]
    assert first["description"] in ("待签收", "处置中") and abs(first["lon"] - lon) < 1e-6 and first["deadline"]


def test_my_reports_say_what_became_of_each(
    client: TestClient, demo_city: Engine, sign_in: SignIn, settings: Settings
) -> None:
    grid, lon, lat = grid_point(demo_city, OTHER)
    headers = sign_in("phone-reporter", Role.GRIDWORKER, grid)
    rules = settings.rules()
    now = datetime.now(UTC)

    def report(description: str) -> uuid.UUID:
        body = event_body(lon, lat, category="0151", reporter="phone-reporter", description=description)
        return write_event(demo_city, body, now)

    kept, refused, repeat, reworked = report("井盖缺失"), report("不归本平台"), report("同一处井盖"), report("路面塌陷")
    transition(demo_city, refused, Action.REFUSE, "phone-community", "属物业自管范围", now, rules)
    transition(demo_city, kept, Action.FILE, "phone-community", "", now, rules)
    transition(demo_city, repeat, Action.MERGE, "phone-community", "重复上报", now, rules, into=kept)
    for action, note in ((Action.FILE, ""), (Action.DISPATCH, ""), (Action.ACCEPT, ""), (Action.RESOLVE, "已修")):
        transition(demo_city, reworked, action, "phone-community", note, now, rules, assignee="phone-reporter")
    transition(demo_city, reworked, Action.REJECT_RESOLUTION, "phone-community", "仍有裂缝", now, rules)
    answer = client.get("/v1/me/reports", headers=headers).json()["reports"]
    reports = {uuid.UUID(r["id"]): r for r in answer}
    assert set(reports) == {kept, refused, repeat, reworked}
    assert (reports[refused]["state"], reports[refused]["end_reason"]) == ("refused", "属物业自管范围")
    assert reports[repeat]["state"] == "merged" and reports[repeat]["merged_into_number"] == reports[kept]["number"]
    assert (reports[reworked]["state"], reports[reworked]["rework_reason"]) == ("in_progress", "仍有裂缝")
    assert [h["action"] for h in reports[reworked]["history"]][-2:] == ["resolve", "reject_resolution"]
    assert reports[kept]["state"] == "filed" and reports[kept]["end_reason"] is None
    mine = client.get("/v1/me/cases", headers=headers).json()["cases"]
    assert {uuid.UUID(c["id"]): c["rework_reason"] for c in mine} == {reworked: "仍有裂缝"}  # why it came back
