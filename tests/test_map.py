"""The map page as rendered HTML, and its data endpoints."""

import json
import math
import re
from collections.abc import Iterator
from datetime import datetime
from itertools import product
from zoneinfo import ZoneInfo

import httpx
import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import Point, Polygon
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.clock import escalate_breaches, start_clocks
from cases.rules import load_rules
from maps.layers import grid_style
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, grid_point, tile_of
from tests.server import serve
from tests.test_sla_db import record
from web.city_map import SCRIPTS

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    case = record(demo_city, "incident", "8303", datetime(2026, 11, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")), 12)
    rules = load_rules()
    start_clocks(demo_city, rules)
    escalate_breaches(demo_city, rules, datetime(2026, 11, 1, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        client.headers.update(sign_in("commander", Role.COMMANDER, ""))
        client.case = case  # type: ignore[attr-defined]
        yield client


def test_the_page_has_every_layer_and_no_asset_from_outside(client: TestClient) -> None:
    response = client.get("/map")
    assert response.status_code == 200
    page = response.text
    assert "润州区" in page and "网格化治理指挥中心" in page
    for fragment in (
        "L.heatLayer",
        "L.geoJson",
        "L.control.layers",
        "gridgov-legend",
        "/static/maps/live.js",
        "/static/leaflet/leaflet.js",
        "/static/folium/leaflet_heat.min.js",
    ):
        assert fragment in page, fragment
    config = re.search(r'window.GRIDGOV = JSON.parse\(("(?:[^"\\]|\\.)*")\)', page)
    assert config, "the page has no configuration for live.js"
    assert "</" not in config.group(1)  # nothing in the data can end the script
    markers = json.loads(json.loads(config.group(1)))["markers"]
    assert [m["id"] for m in markers] == [client.case]  # type: ignore[attr-defined]
    assert not EXTERNAL.findall(page), EXTERNAL.findall(page)
    assert "$(" not in page  # no jQuery: it would come from a CDN
    assert client.case in page  # type: ignore[attr-defined]  # the escalated case's popup links to its JSON


def test_the_head_goes_out_before_the_data_is_read(settings: Settings, demo_city: Engine, sign_in: SignIn) -> None:
    headers = sign_in("commander", Role.COMMANDER, "")
    with (
        serve(create_app(settings)) as base,
        httpx.Client(base_url=base, headers=headers, timeout=30) as http,
        demo_city.connect() as lock,
    ):
        lock.execute(text('LOCK TABLE "case" IN ACCESS EXCLUSIVE MODE'))  # the page's data waits for it
        with http.stream("GET", "/map") as response:
            assert response.status_code == 200
            chunks = response.iter_text()
            head = next(chunks)  # the browser fetches the scripts and the first tiles while the server reads
            assert head.startswith("<!DOCTYPE html>") and "gridgovPrefetch(" in head and "GRIDGOV" not in head
            lock.rollback()
            page = head + "".join(chunks)
    assert "网格化治理指挥中心" in page and page.rstrip().endswith("</html>")
    for script in SCRIPTS:  # each once: folium's document adds none of its own
        assert page.count(f'<script src="{script}">') == 1, script


def test_assets_are_served_by_the_app(client: TestClient) -> None:
    for path in (
        "/static/leaflet/leaflet.js",
        "/static/leaflet/leaflet.css",
        "/static/folium/leaflet_heat.min.js",
        "/static/maps/live.js",
    ):
        assert client.get(path).status_code == 200, path


def test_english_labels_and_a_street_view(client: TestClient) -> None:
    english = client.get("/map", params={"lang": "en", "metric": "overdue_cases", "window": "7d"}).text
    assert "Grid governance command centre" in english and "Overdue cases" in english
    street = client.get("/map", params={"area": "321111002"}).text
    assert "和平路街道" in street
    assert client.get("/map", params={"area": "999999"}).status_code == 404
    assert client.get("/map", params={"metric": "nonsense"}).status_code == 422


def test_data_endpoints_are_geojson(client: TestClient) -> None:
    grids = client.get("/v1/map/grids", params={"metric": "open_cases"}).json()
    assert grids["type"] == "FeatureCollection" and len(grids["features"]) >= 300
    assert all(isinstance(f["properties"]["value"], float) for f in grids["features"])
    heat = client.get("/v1/map/heat", params={"window": "7d"}).json()
    assert heat["type"] == "FeatureCollection"
    escalated = client.get("/v1/map/escalations").json()
    assert client.case in [f["id"] for f in escalated["features"]]  # type: ignore[attr-defined]


def _grid_shapes(tile: bytes, z: int, x: int, y: int, names: dict[str, str | None]) -> dict[str, Polygon]:
    """The tile's grids as lon/lat polygons (tile coordinates taken back through web mercator); ``names`` too."""
    layer = mapbox_vector_tile.decode(tile)["grids"]
    size = 2 * math.pi * 6378137 / 2**z
    west, north = -math.pi * 6378137 + x * size, math.pi * 6378137 - y * size
    back = Transformer.from_crs(3857, 4326, always_xy=True)

    def lonlat(px: float, py: float) -> tuple[float, float]:  # py counts up from the tile's bottom
        lon, lat = back.transform(west + px / layer["extent"] * size, north - size + py / layer["extent"] * size)
        return lon, lat

    shapes = {}
    names.clear()
    for feature in layer["features"]:
        geometry = feature["geometry"]
        rings = geometry["coordinates"] if geometry["type"] == "Polygon" else geometry["coordinates"][0]
        shapes[str(feature["id"])] = Polygon([lonlat(*p) for p in rings[0]])  # the id is the code
        names[str(feature["id"])] = feature["properties"].get("name")
    return shapes


def test_grids_come_as_vector_tiles_from_postgis(client: TestClient, demo_city: Engine) -> None:
    code, lon, lat = grid_point(demo_city, 12)
    with demo_city.connect() as conn:
        grids, west, south, east, north = conn.execute(
            text(
                "SELECT count(*), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)),"
                " ST_YMax(ST_Extent(geom)) FROM active_area WHERE level = 'grid'"
            )
        ).one()
    (x0, y0), (x1, y1) = tile_of(west, north, 9), tile_of(east, south, 9)
    names: dict[str, str | None] = {}
    seen: set[str] = set()  # the whole city at zoom 9: every grid in the tiles over it, none lost to quantising
    for x, y in product(range(x0, x1 + 1), range(y0, y1 + 1)):
        whole = client.get(f"/v1/map/tiles/9/{x}/{y}.mvt")  # the commander's default area: the demo district
        assert whole.status_code == 200 and whole.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        seen |= set(_grid_shapes(whole.content, 9, x, y, names))
        assert set(names.values()) == {None}  # a city view needs the codes alone
    assert len(seen) == grids

    x, y = tile_of(lon, lat, 15)
    tile = client.get(f"/v1/map/tiles/15/{x}/{y}.mvt")
    shapes = _grid_shapes(tile.content, 15, x, y, names)
    assert shapes[code].buffer(1e-6).contains(Point(lon, lat))  # the grid is drawn where it lies
    with demo_city.connect() as conn:
        name = conn.execute(text("SELECT name FROM active_area WHERE code = :c"), {"c": code}).scalar_one()
    assert names[code] == name  # close up, the tooltip names it
    street = client.get(f"/v1/map/tiles/15/{x}/{y}.mvt", params={"area": code[:9]})
    assert set(_grid_shapes(street.content, 15, x, y, names)) == {c for c in shapes if c.startswith(code[:9])}

    again = client.get(f"/v1/map/tiles/15/{x}/{y}.mvt", headers={"If-None-Match": tile.headers["etag"]})
    assert again.status_code == 304 and again.content == b""  # same boundary set: the browser keeps its copy
    empty = client.get("/v1/map/tiles/15/0/0.mvt")  # the sea off Antarctica: no grid
    assert empty.status_code == 200 and empty.content == b""
    wrong = client.get("/v1/map/tiles/3/8/0.mvt")
    assert wrong.status_code == 422 and "x and y run from 0 to 7" in wrong.json()["message"]
    assert client.get("/v1/map/tiles/23/0/0.mvt").status_code == 422
    assert client.get("/v1/map/tiles/15/0/0.mvt", params={"area": "999999"}).status_code == 404


def test_grid_values_name_the_grids_with_a_value(client: TestClient, demo_city: Engine) -> None:
    code, _, _ = grid_point(demo_city, 12)
    values = client.get("/v1/map/values", params={"metric": "open_cases"}).json()
    layer = client.get("/v1/map/grids", params={"metric": "open_cases"}).json()
    counted = {f["id"]: f["properties"]["value"] for f in layer["features"]}
    assert values["missing"] == 0.0 and values["values"][code] >= 1  # the escalated case is open
    assert values["values"] == {c: v for c, v in counted.items() if v}  # a grid not named has 0
    rates = client.get("/v1/map/values", params={"metric": "in_grid_closure_rate"}).json()
    assert rates["missing"] is None


def test_the_supervisors_escalation_list(client: TestClient) -> None:
    page = client.get("/escalations", params={"area": "321111"}).text
    number = client.get(f"/v1/cases/{client.case}").json()["number"]  # type: ignore[attr-defined]
    assert f'<a href="/work/cases/{number}">{number}</a>' in page  # known by its number, not its id
    assert "升级案件" in page


def test_feed_messages_from_each_topic() -> None:
    import json

    from api.live import to_messages
    from streams.topics import Topics

    topics = Topics.from_prefix("x.")
    transition = {
        "case_id": "c1",
        "to_level": "street",
        "to_state": "closed",
        "grid": "321111001001001",
        "lat": 32.2,
        "lon": 119.4,
        "action": "verify",
    }
    assert to_messages(topics.transitions, topics, json.dumps(transition).encode())[0]["type"] == "transition"
    assert to_messages(topics.escalations, topics, json.dumps(transition).encode())[0]["type"] == "escalation"
    located = {
        "events": [
            {
                "received": {"event": {"id": "e1", "kind": "incident", "category": "0102"}},
                "location": {"grid": "321111001001001", "lat": 32.2, "lon": 119.4},
            }
        ]
    }
    (message,) = to_messages(topics.located, topics, json.dumps(located).encode())
    assert message == {
        "type": "located",
        "id": "e1",
        "kind": "incident",
        "category": "0102",
        "grid": "321111001001001",
        "lat": 32.2,
        "lon": 119.4,
    }


def test_a_department_hears_its_own_cases_and_an_area_its_grids() -> None:
    import asyncio

    from api.live import Subscriber

    loop = asyncio.new_event_loop()
    try:
        area = Subscriber(loop, asyncio.Queue(), "321111002")
        unit = Subscriber(loop, asyncio.Queue(), "", department="消防救援大队")
    finally:
        loop.close()
    theirs = {"type": "transition", "grid": "321111001001001", "department": "消防救援大队"}
    located = {"type": "located", "grid": "321111002001001"}
    assert unit.wants(theirs) and not unit.wants(theirs | {"department": "城管执法大队"})
    assert not unit.wants(located)  # a report is not yet anybody's case
    assert area.wants(located) and not area.wants(theirs)  # the case lies in another street


def test_a_count_is_classed_in_whole_numbers_and_a_rate_in_fractions() -> None:
    assert grid_style("open_cases", {"a": 1, "b": 2})["breaks"] == [1, 2]  # never "≥ 0.3" open cases
    assert grid_style("overdue_cases", {"a": 12})["breaks"] == [2, 4, 6, 8, 10]
    assert grid_style("in_grid_closure_rate", {"a": 0.6})["breaks"] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
