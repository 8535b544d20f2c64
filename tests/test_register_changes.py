"""Everyday changes to the register and building heads (楼栋长), through the API against PostGIS.

A gridworker proposes, the community approves (or refuses with a reason); a supervisor's own change is
applied at once; a resent proposal is the same change; a change the register no longer fits is a 409.
Member counts, tags and cadence follow. A building head sees their buildings' households masked and
reports incidents within 50 m of them; the gridworker of the grid holds what they report.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.clock import start_clocks
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, event_body, grid_point
from tests.registers_fixtures import add_household, rolled_as_counted, write_event

G = 241  # a demo grid no other test uses
A_ID, B_ID, C_ID, NEW_ID = "110105194001010018", "110105197002020019", "110105200003030010", "110105202501010011"
METRE = 1 / 111_000  # about a metre of latitude, in degrees


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        yield client


@pytest.fixture(scope="module")
def place(demo_city: Engine, settings: Settings, sign_in: SignIn) -> dict[str, Any]:
    grid, lon, lat = grid_point(demo_city, G)
    one = add_household(
        demo_city, settings, grid, (lon, lat), "0301", [("赵一", A_ID, ()), ("赵二", B_ID, ())], date(2026, 1, 1), "931"
    )
    two = add_household(demo_city, settings, grid, (lon, lat), "0302", [("钱三", C_ID, ())], date(2026, 1, 1), "931")
    return {
        "grid": grid,
        "point": (lon, lat),
        "one": one,
        "two": two,
        "building": grid + "931",
        "worker": sign_in("chg-gw", Role.GRIDWORKER, grid),
        "community": sign_in("chg-com", Role.COMMUNITY, grid[:12]),
        "other": sign_in("chg-gw-other", Role.GRIDWORKER, grid_point(demo_city, 3)[0]),
        "street": sign_in("chg-street", Role.STREET, grid[:9]),
    }


def _household(client: TestClient, place: dict[str, Any], household: str) -> Any:
    answer = client.get(f"/v1/households/{household}", headers=place["community"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def _person(client: TestClient, place: dict[str, Any], household: str, name: str) -> int:
    return int(next(p["id"] for p in _household(client, place, household)["people"] if p["name"] == name))


def _body(**fields: Any) -> dict[str, Any]:
    return {"client_id": str(uuid.uuid4()), "reason": "入户核实", **fields}


def test_a_gridworkers_move_waits_for_the_community_and_counts_follow(
    client: TestClient, place: dict[str, Any], demo_city: Engine
) -> None:
    second = _person(client, place, place["one"], "赵二")
    body = _body(into=place["two"])
    proposed = client.post(f"/v1/people/{second}/move", headers=place["worker"], json=body)
    assert proposed.status_code == 200, proposed.text
    assert proposed.json()["state"] == "proposed"
    again = client.post(f"/v1/people/{second}/move", headers=place["worker"], json=body)
    assert again.json()["id"] == proposed.json()["id"]  # the phone's resend is the same change
    assert _household(client, place, place["one"])["members"] == 2  # nothing changed yet

    waiting = client.get("/v1/register-changes", headers=place["community"]).json()["changes"]
    assert proposed.json()["id"] in [c["id"] for c in waiting]
    decided = client.post(
        f"/v1/register-changes/{proposed.json()['id']}/decision", headers=place["community"], json={"approve": True}
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["state"], decided.json()["decided_by"]) == ("applied", "chg-com")
    assert (_household(client, place, place["one"])["members"], _household(client, place, place["two"])["members"]) == (
        1,
        2,
    )
    twice = client.post(
        f"/v1/register-changes/{proposed.json()['id']}/decision", headers=place["community"], json={"approve": True}
    )
    assert twice.status_code == 409
    with demo_city.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, purpose FROM pii_access WHERE action = 'change' AND person_id = :p"), {"p": second}
        ).all()
    assert [tuple(r) for r in logged] == [("chg-com", "入户核实")]


def test_a_supervisor_adds_a_baby_at_once_the_number_sealed_and_tags_set_the_cadence(
    client: TestClient, place: dict[str, Any], demo_city: Engine
) -> None:
    added = client.post(
        f"/v1/households/{place['one']}/people",
        headers=place["community"],
        json=_body(name="赵小", id_number=NEW_ID, relation="孙子", tags=[]),
    )
    assert added.status_code == 200, added.text
    assert added.json()["state"] == "applied" and NEW_ID not in added.text
    with demo_city.connect() as conn:
        stored = conn.execute(
            text("SELECT details::text FROM register_change WHERE id = :id"), {"id": added.json()["id"]}
        )
        assert NEW_ID not in stored.scalar_one()  # sealed, never in clear
    baby = _person(client, place, place["one"], "赵小")
    assert _household(client, place, place["one"])["cadence"] != "monthly"
    tagged = client.put(f"/v1/people/{baby}/tags", headers=place["community"], json=_body(tags=["独居老人"]))
    assert tagged.status_code == 200, tagged.text
    household = _household(client, place, place["one"])
    assert (household["members"], household["tags"], household["cadence"]) == (2, ["独居老人"], "monthly")
    unknown = client.put(f"/v1/people/{baby}/tags", headers=place["community"], json=_body(tags=["不存在"]))
    assert unknown.status_code == 422 and "不存在" in unknown.text
    twice = client.post(
        f"/v1/households/{place['two']}/people",
        headers=place["community"],
        json=_body(name="赵小", id_number=NEW_ID, relation="子"),
    )
    assert twice.status_code == 409 and "move" in twice.json()["message"]


def test_split_merge_and_leave_and_what_the_register_no_longer_fits(
    client: TestClient, place: dict[str, Any], demo_city: Engine
) -> None:
    three = _person(client, place, place["two"], "钱三")
    new_room = f"{place['building']}-1-0303"
    split = client.post(
        f"/v1/households/{place['two']}/split", headers=place["community"], json=_body(people=[three], into=new_room)
    )
    assert split.status_code == 200, split.text
    assert [p["name"] for p in _household(client, place, new_room)["people"]] == ["钱三"]
    merge = client.post(f"/v1/households/{new_room}/merge", headers=place["community"], json=_body(into=place["two"]))
    assert merge.status_code == 200, merge.text
    assert _household(client, place, new_room)["members"] == 0
    gone = client.post(f"/v1/people/{three}/leave", headers=place["worker"], json=_body(why="died", on="2026-12-01"))
    assert gone.json()["state"] == "proposed"
    moved = client.post(f"/v1/people/{three}/move", headers=place["community"], json=_body(into=place["one"]))
    assert moved.json()["state"] == "applied"
    refused = client.post(
        f"/v1/register-changes/{gone.json()['id']}/decision", headers=place["community"], json={"approve": False}
    )
    assert refused.status_code == 422  # a refusal says why
    approved = client.post(
        f"/v1/register-changes/{gone.json()['id']}/decision", headers=place["community"], json={"approve": True}
    )
    assert approved.status_code == 200  # the person moved, and the leave still applies to them
    assert "钱三" not in [p["name"] for p in _household(client, place, place["one"])["people"]]
    stale = client.post(f"/v1/people/{three}/tags", headers=place["worker"], json=_body(tags=[]))
    assert stale.status_code in (404, 405)
    missing = client.put(f"/v1/people/{three}/tags", headers=place["worker"], json=_body(tags=[]))
    assert missing.status_code == 404 and str(three) in missing.json()["message"]
    assert rolled_as_counted(demo_city)  # the visit roll followed the moves and splits


def test_who_may_change_what(client: TestClient, place: dict[str, Any]) -> None:
    first = _person(client, place, place["one"], "赵一")
    other = client.put(f"/v1/people/{first}/tags", headers=place["other"], json=_body(tags=[]))
    assert other.status_code == 403  # a gridworker of another grid
    street = client.put(f"/v1/people/{first}/tags", headers=place["street"], json=_body(tags=[]))
    assert street.status_code == 403  # the route is the grid's and the community's
    proposed = client.put(f"/v1/people/{first}/tags", headers=place["worker"], json=_body(tags=["残疾人"]))
    decided = client.post(
        f"/v1/register-changes/{proposed.json()['id']}/decision", headers=place["worker"], json={"approve": True}
    )
    assert decided.status_code == 403
    no_reason = client.put(f"/v1/people/{first}/tags", headers=place["worker"], json={"client_id": str(uuid.uuid4())})
    assert no_reason.status_code == 422 and "reason" in no_reason.text


def test_a_building_head_sees_their_building_masked_and_reports_beside_it(
    client: TestClient, place: dict[str, Any], sign_in: SignIn, settings: Settings, demo_city: Engine
) -> None:
    head = sign_in("chg-head", Role.BUILDING_HEAD, place["building"])
    building = client.get(f"/v1/buildings/{place['building']}", headers=head)
    assert building.status_code == 200, building.text
    assert {h["id"] for h in building.json()["households"]} >= {place["one"], place["two"]}
    household = client.get(f"/v1/households/{place['one']}", headers=head).json()
    assert household["people"] and all(p["masked"] and "birth_date" not in p for p in household["people"])
    other_building = client.get(f"/v1/buildings/{place['grid']}901", headers=head)
    assert other_building.status_code == 404
    listed = client.get(f"/v1/grids/{place['grid']}/buildings", headers=head).json()["buildings"]
    assert [b["code"] for b in listed] == [place["building"]]
    assert client.get("/v1/visits/due", headers=head).status_code == 403

    lon, lat = place["point"]
    far = event_body(lon, lat + 80 * METRE, reporter="chg-head", category="0101")
    refused = client.post("/v1/events", headers=head, json=far)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["field"] == "location" and "50" in refused.json()["message"]
    patrol = event_body(lon, lat, reporter="chg-head", kind="patrol", category="9001")
    assert client.post("/v1/events", headers=head, json=patrol).status_code == 422

    rules = settings.rules()
    on_the_spot = next(c for c in sorted(rules.known) if rules.self_handle(c))
    near = event_body(lon, lat + 20 * METRE, reporter="chg-head", category=on_the_spot)
    assert client.post("/v1/events", headers=head, json=near).status_code == 202
    recorded = event_body(lon, lat + 20 * METRE, reporter="chg-head", category=on_the_spot)
    case_id = write_event(demo_city, recorded, datetime.now(UTC))  # as the worker records it
    start_clocks(demo_city, rules)
    with demo_city.connect() as conn:
        held = conn.execute(text('SELECT assignee, grid_code FROM "case" WHERE id = :id'), {"id": case_id}).one()
    assert tuple(held) == ("chg-gw", place["grid"])  # the grid's gridworker holds it
    page = client.get(f"/work/cases/{case_id}", headers=place["community"], params={"lang": "zh"})
    assert "楼栋长" in page.text
