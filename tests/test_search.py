"""``GET /v1/work/search``: one box finds cases by number, words, address, reporter and grid, in the caller's scope."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.search import like_pattern
from registers.rows import BuildingRow
from registers.store import import_buildings
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event

GRID = 135  # a demo grid used by no other test
OTHER = 3  # a grid of another street


def test_the_words_are_taken_literally() -> None:
    assert like_pattern("100%_a\\b") == "%100\\%\\_a\\\\b%"


@pytest.fixture(scope="module")
def found(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[tuple[TestClient, dict[str, str]]]:
    grid, lon, lat = grid_point(demo_city, GRID)
    with demo_city.begin() as conn:  # a building of the register 30 m north of the reports, one 1 km away
        rows = [
            BuildingRow(0, grid + "901", grid, "翠竹苑7栋", None, shapely.Point(lon, lat + 0.00027)),
            BuildingRow(0, grid + "902", grid, "远方大厦", None, shapely.Point(lon, lat + 0.009)),
        ]
        import_buildings(conn, rows)
    sign_in("search-gw", Role.GRIDWORKER, grid)
    with demo_city.begin() as conn:
        conn.execute(text("UPDATE app_user SET display_name = '欧阳修竹' WHERE username = 'search-gw'"))
    at = datetime.now(UTC)
    ids = {
        "rubbish": write_event(
            demo_city, event_body(lon, lat, reporter="search-gw", description="东门口积存垃圾渣土"), at
        ),
        "lamp": write_event(
            demo_city, event_body(lon, lat, category="0151", reporter="gw-x", description="路灯不亮"), at
        ),
    }
    far_grid, far_lon, far_lat = grid_point(demo_city, OTHER)
    ids["far"] = write_event(demo_city, event_body(far_lon, far_lat, reporter="gw-y", description="垃圾渣土外溢"), at)
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in("search-community", Role.COMMUNITY, grid[:12]))
        yield client, {k: str(v) for k, v in ids.items()} | {"grid": grid}


def _search(client: TestClient, q: str, **headers: str) -> list[str]:
    response = client.get("/v1/work/search", params={"q": q, "limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["cases"])
    return [c["id"] for c in body["cases"]]


def test_each_kind_of_words_finds_the_case_in_scope(
    found: tuple[TestClient, dict[str, str]], demo_city: Engine
) -> None:
    client, ids = found
    number = client.get(f"/v1/cases/{ids['rubbish']}").json()["number"]
    with demo_city.connect() as conn:
        grid_name = conn.execute(text("SELECT name FROM active_area WHERE code = :c"), {"c": ids["grid"]}).scalar_one()
    assert _search(client, number) == [ids["rubbish"]]  # the whole number
    assert ids["rubbish"] in _search(client, number[-9:])  # part of it: the day's end and the serial
    assert _search(client, "垃圾渣土") == [ids["rubbish"]]  # the other street's report is out of scope
    assert _search(client, "渣土") == [ids["rubbish"]]  # two characters
    assert _search(client, "欧阳修竹") == [ids["rubbish"]]  # the reporter by name
    assert _search(client, "search-gw") == [ids["rubbish"]]  # … and by login
    assert set(_search(client, "翠竹苑")) == {ids["rubbish"], ids["lamp"]}  # an address: a building 30 m away
    assert _search(client, "远方大厦") == []  # a building 1 km away is not their address
    assert {ids["rubbish"], ids["lamp"]} <= set(_search(client, grid_name))  # the grid by name
    assert _search(client, "100%") == []  # a % is a percent sign, not "anything"


def test_a_found_row_says_what_the_case_is_and_where(
    found: tuple[TestClient, dict[str, str]], demo_city: Engine
) -> None:
    client, ids = found
    (row,) = client.get("/v1/work/search", params={"q": "垃圾渣土"}).json()["cases"]
    with demo_city.connect() as conn:
        grid_name = conn.execute(text("SELECT name FROM active_area WHERE code = :c"), {"c": ids["grid"]}).scalar_one()
    assert (row["description"], row["reporter_name"], row["grid_name"]) == ("东门口积存垃圾渣土", "欧阳修竹", grid_name)
    assert (row["place"], row["place_m"]) == ("翠竹苑7栋", 30)
    assert row["state"] == "reported" and row["number"] and "total" not in row
    queued = client.get("/v1/work/queue", params={"tab": "intake", "limit": 500}).json()["cases"]
    assert {c["id"]: c["place"] for c in queued}[ids["lamp"]] == "翠竹苑7栋"  # the queues' rows say the same


def test_too_few_characters_are_refused_in_words(found: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = found
    refused = client.get("/v1/work/search", params={"q": " 渣 "})
    assert refused.status_code == 422
    assert refused.json()["message"] == "请输入至少 2 个字：案卷编号、地址、描述、上报人或网格名称"
    assert client.get("/v1/work/search", params={"q": "垃" * 61}).status_code == 422


def test_common_words_find_the_same_newest_cases_counted_at_least(
    found: tuple[TestClient, dict[str, str]], demo_city: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words in more reports than ``COMMON`` walk the cases newest first: the same pages, the count "at least"."""
    client, ids = found
    grid, lon, lat = grid_point(demo_city, GRID)
    at = datetime.now(UTC)
    more = [
        str(write_event(demo_city, event_body(lon, lat, reporter="gw-x", description=f"{place}井盖松动第{i}处"), at))
        for i, place in enumerate(["翠竹苑门前", *[""] * 6])
    ]  # the first names the building too: found by its words and by its address
    wanted = client.get("/v1/work/search", params={"q": "井盖松动", "limit": 500}).json()
    assert wanted["total"] == 7 and wanted["total_exact"] is True
    monkeypatch.setattr("cases.search.COMMON", 3)
    for limit, offset in ((500, 0), (3, 0), (3, 3), (3, 6)):
        body = client.get("/v1/work/search", params={"q": "井盖松动", "limit": limit, "offset": offset}).json()
        assert [c["id"] for c in body["cases"]] == [c["id"] for c in wanted["cases"]][offset : offset + limit]
        assert (body["total"], body["total_exact"]) == (7, False)
    assert set(more) == {c["id"] for c in wanted["cases"]}
    # The other kinds of match stay in the list beside the common words': the building's name finds all nine
    # by their place, one also by its words; walked or read whole, the same list.
    monkeypatch.setattr("cases.search.COMMON", 10_000)
    whole = _ids(client, "翠竹苑")
    monkeypatch.setattr("cases.search.COMMON", 0)
    assert _ids(client, "翠竹苑") == whole and set(whole) >= {ids["rubbish"], ids["lamp"], *more}


def _ids(client: TestClient, q: str) -> list[str]:
    return [c["id"] for c in client.get("/v1/work/search", params={"q": q, "limit": 500}).json()["cases"]]
