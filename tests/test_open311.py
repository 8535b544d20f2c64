"""Open311 GeoReport v2 against the served app, read with the unmodified third-party ``georeport`` client.

georeport 0.3.1 has no method to post a request (its API is get_service_list, get_service_definition,
get_service_requests, get_service_request), so the test posts the form exactly as the specification
describes, with ``requests`` (the library georeport itself uses), and reads it back with georeport.
"""

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests
from georeport import GeoReport
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.open311.clients import add_client
from api.settings import Settings
from cases.clock import escalate_breaches, start_clocks
from cases.rules import load_rules
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, grid_point, running_worker, wait_recorded
from tests.server import serve

INDEX = 170


@pytest.fixture(scope="module")
def server(settings: Settings, demo_city: Engine) -> Iterator[str]:
    with running_worker(settings, demo_city, "test-open311"), serve(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def api_key(demo_city: Engine) -> str:
    return add_client(demo_city, "12345-hotline")


def _post(server: str, fmt: str = "json", **form: str) -> requests.Response:
    return requests.post(f"{server}/open311/v2/requests.{fmt}", data=form, headers=ENGLISH, timeout=30)


def test_the_client_lists_services_and_definitions_in_json_and_xml(server: str) -> None:
    for fmt in ("json", "xml"):
        client = GeoReport(f"{server}/open311/v2", jurisdiction="321111", output_format=fmt)
        listed = client.get_service_list()
        codes = {s["service_code"] for s in listed}
        assert {"0102", "8302"} <= codes and "9001" not in codes and "9101" not in codes  # incidents only
        blocked = next(s for s in listed if s["service_code"] == "8301")
        assert blocked["service_name"] == "消防通道堵塞" and blocked["group"] == "安全隐患"
        assert client.get_service_definition("8302")["service_code"] == "8302"
        # The standard's 小类 are the services: events and component classes; a filing condition is an attribute.
        lamp = next(s for s in listed if s["service_code"] == "BJ0116")
        assert lamp["service_name"] == "路灯" and lamp["group"] == "公用设施" and lamp["metadata"] in (True, "true")
        assert {"0301", "0409", "BJ0101", "BJ0304"} <= codes
        definition = client.get_service_definition("BJ0116")
        attribute = definition["attributes"][0] if fmt == "json" else definition["attributes"]["attribute"]
        assert attribute["code"] == "condition" and attribute["required"] in (True, "true")
        values = attribute["values"] if fmt == "json" else attribute["values"]["value"]
        assert [v["key"] for v in values] == ["1", "2"] and values[0]["name"] == "路灯不亮或亮灯率不达标"
    discovery = requests.get(f"{server}/open311/v2/discovery.json", timeout=10).json()
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"


def test_a_posted_request_is_located_cased_escalated_and_read_back(
    server: str, api_key: str, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, INDEX)
    posted = _post(
        server,
        api_key=api_key,
        jurisdiction_id="321111",
        service_code="8301",
        lat=str(lat),
        long=str(lon),
        description="小区消防通道被车辆堵塞",
        address_string="润州区某小区3号楼",
        email="caller@example.cn",
        phone="13800000000",
    )
    assert posted.status_code == 201, posted.text
    request_id = posted.json()[0]["service_request_id"]

    client = GeoReport(f"{server}/open311/v2", jurisdiction="321111")
    at_once = client.get_service_request(request_id)  # stored before the answer: readable at once
    assert at_once["status"] == "open" and at_once["service_code"] == "8301"
    assert "phone" not in at_once and "13800000000" not in str(at_once) and "caller@" not in str(at_once)

    assert request_id in wait_recorded(demo_city, [request_id])
    rules = load_rules()
    start_clocks(demo_city, rules)
    read = client.get_service_request(request_id)
    assert read["agency_responsible"] == "消防救援大队"  # urgent: sent straight to its unit
    assert read["expected_datetime"] is not None and read["address"] == "润州区某小区3号楼"

    # On the map, for a supervisor of its street.
    street = sign_in("o311-street", Role.STREET, grid[:9])
    heat = requests.get(f"{server}/v1/map/heat", params={"window": "today"}, headers=street, timeout=30).json()
    assert any(abs(f["geometry"]["coordinates"][0] - lon) < 0.001 for f in heat["features"])
    assert requests.get(f"{server}/v1/cases/{request_id}", headers=street, timeout=30).json()["category"] == "8301"

    # Held to its SLA like any other case: nobody signs for it, and the miss is flagged.
    escalate_breaches(demo_city, rules, datetime.fromisoformat(read["expected_datetime"]) + timedelta(seconds=1))
    case = requests.get(f"{server}/v1/cases/{request_id}", headers=street, timeout=30).json()
    assert case["overdue"] and case["history"][-1]["action"] == "sign_in_overdue"

    for action, note in (("accept", ""), ("resolve", "已挪车"), ("verify", "车辆已挪走")):
        response = requests.post(
            f"{server}/v1/cases/{request_id}/transitions",
            json={"action": action, "note": note},
            headers=street,
            timeout=30,
        )
        assert response.status_code == 200, response.text
    closed = GeoReport(f"{server}/open311/v2", jurisdiction="321111", output_format="xml").get_service_request(
        request_id
    )
    assert closed["status"] == "closed" and closed["status_notes"] == "车辆已挪走"
    listed = client.get_service_requests(status="closed", service_code="8301")
    assert request_id in {r["service_request_id"] for r in listed}
    assert request_id not in {r["service_request_id"] for r in client.get_service_requests(status="open")}


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"api_key": "wrong", "service_code": "0102", "lat": "32.2", "long": "119.43"}, 403, "api_key"),
        ({"service_code": "BJ0116", "lat": "32.2", "long": "119.43"}, 400, "several filing conditions"),
        (
            {"service_code": "BJ0116", "lat": "32.2", "long": "119.43", "attribute[condition]": "7"},
            400,
            "no condition 7",
        ),
        ({"service_code": "9999", "lat": "32.2", "long": "119.43"}, 400, "not a service"),
        ({"service_code": "0102", "long": "119.43"}, 400, "lat must be"),
        ({"service_code": "0102", "lat": "91", "long": "119.43"}, 400, "lat must be"),
        ({"service_code": "0102", "lat": "NaN", "long": "119.43"}, 400, "lat must be"),
        ({"service_code": "0102", "lat": "32.2", "long": "119.43", "jurisdiction_id": "999999"}, 404, "jurisdiction"),
        ({"service_code": "0102", "lat": "32.2", "long": "119.43", "address_string": "a\x00b"}, 400, "NUL"),
        ({"service_code": "0102", "lat": "39.9", "long": "116.4"}, 400, "outside the area this platform serves"),
    ],
)
def test_bad_posts_get_open311_errors(server: str, api_key: str, form: dict[str, str], status: int, words: str) -> None:
    response = _post(server, **({"api_key": api_key} | form))
    assert response.status_code == status
    (error,) = response.json()
    assert error["code"] == status and words in error["description"]
    as_xml = _post(server, "xml", **({"api_key": api_key} | form))
    root = ElementTree.fromstring(as_xml.content)
    assert root.tag == "errors" and root.find("error/code").text == str(status)  # type: ignore[union-attr]


def test_unknown_ids_and_ranges_are_refused_clearly(server: str) -> None:
    missing = requests.get(f"{server}/open311/v2/requests/00000000-0000-4000-8000-000000000000.json", timeout=10)
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404
    too_long = requests.get(
        f"{server}/open311/v2/requests.json",
        params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
        timeout=10,
    )
    assert too_long.status_code == 400 and "相隔不超过 90 天" in too_long.json()[0]["description"]  # zh by default
    in_english = requests.get(
        f"{server}/open311/v2/requests.json",
        params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
        headers=ENGLISH,
        timeout=10,
    )
    assert "90 days" in in_english.json()[0]["description"]
    assert requests.get(f"{server}/open311/v2/services.yaml", timeout=10).status_code in (404, 422)


def test_a_lamp_request_names_its_filing_condition_as_an_attribute(
    server: str, api_key: str, demo_city: Engine
) -> None:
    _, lon, lat = grid_point(demo_city, INDEX)
    form = {"api_key": api_key, "service_code": "BJ0116", "lat": str(lat), "long": str(lon), "description": "灯杆倾斜"}
    posted = _post(server, **form, **{"attribute[condition]": "2"})
    assert posted.status_code == 201, posted.text
    request_id = posted.json()[0]["service_request_id"]
    assert request_id in wait_recorded(demo_city, [request_id])
    with demo_city.connect() as conn:
        row = conn.execute(text('SELECT category, condition FROM "case" WHERE id = :id'), {"id": request_id}).one()
    assert tuple(row) == ("BJ0116", "2")
