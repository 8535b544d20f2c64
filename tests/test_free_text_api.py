"""A description and a note holding an ID, a phone and a plate number: stored masked with the original sealed,
read masked by a street supervisor, and as written (logged, naming the case) by the grid's gridworker."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from registers.free_text import SEALED_TEXT
from registers.protect import Protector
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point, running_worker, wait_recorded
from tests.test_free_text import SHOWN, TEXT

GRID = 131  # a demo grid no other test uses


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with running_worker(settings, demo_city, "test-free-text"), TestClient(create_app(settings)) as client:
        yield client


def test_numbers_in_a_report_are_sealed_masked_for_others_and_open_to_the_grid_logged(
    client: TestClient, demo_city: Engine, settings: Settings, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, GRID)
    worker = sign_in("text-gw", Role.GRIDWORKER, grid)
    community = sign_in("text-community", Role.COMMUNITY, grid[:12])
    street = sign_in("text-street", Role.STREET, grid[:9])
    body = event_body(lon, lat, category="0102", reporter="text-gw", description=TEXT)
    assert client.post("/v1/events", json=body, headers=worker).status_code == 202
    case = body["id"]
    assert wait_recorded(demo_city, [case])
    again = client.post("/v1/events", json=body, headers=worker)  # the phone's resend: the same content
    assert again.status_code == 202, again.text

    asked = {"action": "extend", "note": "联系 13912345678 核实", "length": "1d"}  # 0102: handled on the spot
    extended = client.post(f"/v1/cases/{case}/transitions", json=asked, headers=worker)
    assert extended.status_code == 200, extended.text
    with demo_city.connect() as conn:
        stored = conn.execute(text("SELECT description FROM event WHERE id = :id"), {"id": case}).scalar_one()
        sealed = dict(
            conn.execute(
                text("SELECT source, sealed FROM sealed_text WHERE ref = :id OR ref LIKE :notes"),
                {"id": case, "notes": f"{case}:%"},
            ).all()
        )
    protector = Protector(settings.registers.pii_key)
    assert stored == SHOWN  # what every page and list reads
    assert protector.open(bytes(sealed["description"]), SEALED_TEXT) == TEXT
    assert protector.open(bytes(sealed["note"]), SEALED_TEXT) == "联系 13912345678 核实"

    history = client.get(f"/v1/cases/{case}", headers=street).json()["history"]
    assert history[-1]["note"] == "联系 139****5678 核实"  # the street supervisor reads it masked
    assert client.get(f"/v1/cases/{case}/text", headers=street).status_code == 403
    page = client.get(f"/work/cases/{case}", headers=street)  # the case page a street supervisor opens
    assert page.status_code == 200 and SHOWN in page.text and "990100199110100017" not in page.text
    mine = {c["id"]: c for c in client.get("/v1/me/cases", headers=worker).json()["cases"]}
    assert mine[case]["description"] == SHOWN  # the phone's own list reads it masked too
    assert client.get(f"/v1/cases/{case}/text", headers=community).status_code == 200  # its community may

    written = client.get(f"/v1/cases/{case}/text", params={"purpose": "上门核实"}, headers=worker)
    assert written.status_code == 200, written.text
    assert written.json()["description"] == TEXT
    assert [n["note"] for n in written.json()["notes"]] == ["联系 13912345678 核实"]
    with demo_city.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, action, purpose, case_id::text FROM pii_access WHERE case_id = :id ORDER BY id"),
            {"id": case},
        ).all()
    assert [tuple(r) for r in logged] == [
        ("text-community", "read_text", "核实 (check)", case),  # each read unmasked is a row, naming the case
        ("text-gw", "read_text", "上门核实", case),
    ]
