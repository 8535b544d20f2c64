"""Every page route sends a Content-Security-Policy: this site alone, inline scripts only with the page's nonce."""

import re
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from geo.demo import DEMO_DISTRICT
from tests.conftest import SignIn
from tests.pipeline_fixtures import grid_point
from tests.registers_fixtures import add_household
from tests.test_sla_db import record

MONTH = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    case = record(demo_city, "incident", "0151", datetime.now(ZoneInfo("Asia/Shanghai")), 17)
    grid, lon, lat = grid_point(demo_city, 17)
    household = add_household(
        demo_city, settings, grid, (lon, lat), "0909", [("辛", "110105195505050018", ())], date(2026, 1, 1), "977"
    )
    with demo_city.connect() as conn:
        person = conn.execute(text("SELECT id FROM person WHERE household_id = :h"), {"h": household}).scalar_one()
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in("csp-district", Role.DISTRICT, DEMO_DISTRICT))
        client.case = case  # type: ignore[attr-defined]
        client.register = {"household": household, "building": household[:18], "person": person}  # type: ignore[attr-defined]
        yield client


def _pages(client: TestClient) -> set[str]:
    """Every GET route whose answer is HTML, as the OpenAPI schema documents it."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        path
        for path, ops in paths.items()
        if "text/html" in ops.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
    }


def test_every_page_route_is_read_here(client: TestClient) -> None:
    assert _pages(client) == set(PAGES) | {"/app/"}


PAGES = {
    "/map": "/map",
    "/screen": "/screen",
    "/escalations": "/escalations",
    "/work": "/work",
    "/work/cases/{case_id}": "/work/cases/{case}",
    "/work/reports/monthly": f"/work/reports/monthly?area={DEMO_DISTRICT}&month={MONTH}",
    "/login": "/login",
    "/work/registers": "/work/registers",
    "/work/registers/buildings/{code}": "/work/registers/buildings/{building}",
    "/work/registers/households/{household_id}": "/work/registers/households/{household}",
    "/work/registers/people/{person_id}": "/work/registers/people/{person}",
    "/work/registers/changes": "/work/registers/changes",
    "/work/registers/import": "/work/registers/import",
}


@pytest.mark.parametrize("route", sorted(PAGES))
def test_the_page_reaches_this_site_alone_and_runs_only_its_own_inline_scripts(client: TestClient, route: str) -> None:
    answer = client.get(PAGES[route].format(case=client.case, **client.register))  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text[:300]
    policy = answer.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    nonce = re.fullmatch(r"'self' 'nonce-([\w-]{20,})'", directives["script-src"])
    assert nonce, directives["script-src"]  # no 'unsafe-inline' for scripts
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", answer.text)
    assert all(f'nonce="{nonce.group(1)}"' in attrs for attrs in inline), inline
    assert "javascript:" not in answer.text


def test_each_answer_has_a_nonce_of_its_own(client: TestClient) -> None:
    first, second = (client.get("/work").headers["content-security-policy"] for _ in range(2))
    assert first != second


def test_the_phone_app_keeps_its_stricter_policy(client: TestClient) -> None:
    policy = client.get("/app/").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "nonce" not in policy
