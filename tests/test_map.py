"""The map page as rendered HTML, and its data endpoints."""

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.clock import escalate_breaches, start_clocks
from cases.rules import load_rules
from tests.conftest import SignIn
from tests.test_sla_db import record

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    case = record(demo_city, "incident", "8303", datetime(2026, 11, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")), 12)
    rules = load_rules()
    start_clocks(demo_city, rules)
    escalate_breaches(demo_city, rules, datetime(2026, 11, 1, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    with TestClient(create_app(settings)) as client:
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
        '"markers": [{',
    ):
        assert fragment in page, fragment
    assert not EXTERNAL.findall(page), EXTERNAL.findall(page)
    assert "$(" not in page  # no jQuery: it would come from a CDN
    assert client.case in page  # type: ignore[attr-defined]  # the escalated case's popup links to its JSON


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


def test_the_supervisors_escalation_list(client: TestClient) -> None:
    page = client.get("/escalations", params={"area": "321111"}).text
    assert client.case[:8] in page  # type: ignore[attr-defined]
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
