"""``GET /v1/cases/{id}/actions``: what this user may do to the case now, worked out by hand per state and role."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event

GRID = 129  # a demo grid used by no other test


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _actions(client: TestClient, case: str, headers: dict[str, str]) -> list[str]:
    response = client.get(f"/v1/cases/{case}/actions", headers=headers)
    assert response.status_code == 200, response.text
    return [a["action"] for a in response.json()["actions"]]


def _act(client: TestClient, case: str, headers: dict[str, str], **body: str) -> None:
    response = client.post(f"/v1/cases/{case}/transitions", json=body, headers=headers)
    assert response.status_code == 200, response.text


def test_the_actions_offered_are_those_of_the_state_narrowed_by_role_and_level(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, GRID)
    worker = sign_in("actions-gw", Role.GRIDWORKER, grid)
    community = sign_in("actions-community", Role.COMMUNITY, grid[:12])
    commander = sign_in("actions-commander", Role.COMMANDER, "")
    case = str(write_event(demo_city, event_body(lon, lat, category="0151", reporter="actions-gw"), datetime.now(UTC)))

    # Reported: intake is the supervisor's (file, refuse, void, merge, or dispatch at once).
    assert _actions(client, case, community) == ["dispatch", "file", "merge", "refuse", "void"]
    assert _actions(client, case, worker) == []  # a gridworker handles cases, does not take reports in
    assert _actions(client, case, commander) == []  # the commander watches
    offered = {a["action"]: a for a in client.get(f"/v1/cases/{case}/actions", headers=community).json()["actions"]}
    assert offered["refuse"]["reason_required"] and not offered["file"]["reason_required"]
    assert offered["dispatch"]["fields"] == ["assignee"] and offered["merge"]["fields"] == ["into"]

    _act(client, case, community, action="file")
    # Filed at grid level: anyone holding it may sign for it, whistle it up, or ask for time; only the
    # supervisor dispatches.
    assert _actions(client, case, community) == ["accept", "dispatch", "escalate", "extend", "suspend"]
    assert _actions(client, case, worker) == ["accept", "escalate", "extend", "suspend"]

    _act(client, case, worker, action="accept")
    _act(client, case, worker, action="extend", note="材料未到", length="1d")
    # An extension is pending: decided by the level above the grid, never by who asked.
    assert _actions(client, case, community) == ["approve", "escalate", "refuse_request", "resolve"]
    assert _actions(client, case, worker) == ["escalate", "resolve"]
    assert client.get("/v1/cases/00000000-0000-4000-8000-000000000000/actions", headers=community).status_code == 404


def test_a_dispatch_names_a_person_who_exists_within_reach_and_a_body_no_unknown_field(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, GRID)
    community = sign_in("refs-community", Role.COMMUNITY, grid[:12])
    sign_in("refs-gw-in", Role.GRIDWORKER, grid)
    sign_in("refs-gw-out", Role.GRIDWORKER, "321111007001001")  # another street's grid
    case = str(write_event(demo_city, event_body(lon, lat, category="0151", reporter="refs-gw-in"), datetime.now(UTC)))
    _act(client, case, community, action="file")
    for nobody in ("gw\u202e1", "refs-gw-nobody", "refs-gw-out"):
        refused = client.post(
            f"/v1/cases/{case}/transitions", json={"action": "dispatch", "assignee": nobody}, headers=community
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["field"] == "assignee"
    unknown = client.post(
        f"/v1/cases/{case}/transitions", json={"action": "dispatch", "asignee": "refs-gw-in"}, headers=community
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "asignee"  # a typo is not dropped
    _act(client, case, community, action="dispatch", assignee="refs-gw-in")
    with demo_city.connect() as conn:
        held = conn.execute(text('SELECT state, assignee FROM "case" WHERE id = :id'), {"id": case}).one()
    assert tuple(held) == ("dispatched", "refs-gw-in")


def test_a_refusal_reads_in_the_callers_language_and_the_history_names_people(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    grid, lon, lat = grid_point(demo_city, GRID)
    community = sign_in("names-community", Role.COMMUNITY, grid[:12])
    with demo_city.begin() as conn:
        conn.execute(text("UPDATE app_user SET display_name = '孙静' WHERE username = 'names-community'"))
    case = str(write_event(demo_city, event_body(lon, lat, category="0151", reporter="names-gw"), datetime.now(UTC)))
    path = f"/v1/cases/{case}/transitions"

    chinese = client.post(path, json={"action": "accept"}, headers=community)  # no Accept-Language: zh
    assert chinese.status_code == 409 and chinese.json()["error"] == "conflict"
    assert chinese.json()["key"] == "conflict.action"
    assert chinese.json()["message"].startswith("案件处于「待受理」，不能签收；可办：")
    assert "受理立案" in chinese.json()["message"] and "accept" not in chinese.json()["message"]
    english = client.post(path, json={"action": "accept"}, headers=community | {"Accept-Language": "en-GB,en;q=0.8"})
    assert english.json()["message"].startswith("cannot accept a case that is reported; allowed: ")
    asked = client.post(f"{path}?lang=en", json={"action": "accept"}, headers=community)
    assert asked.json()["message"] == english.json()["message"]  # ?lang= wins over the header
    short = client.post(path, json={"action": "refuse", "note": " "}, headers=community)
    assert short.status_code == 422 and short.json()["message"] == "不予立案须填写理由"
    assert short.json()["detail"] == [{"field": "note", "problem": "不予立案须填写理由"}]

    _act(client, case, community, action="file")
    history = client.get(f"/v1/cases/{case}", headers=community).json()["history"]
    filed = history[-1]
    assert (filed["actor"], filed["actor_name"], filed["actor_role"]) == ("names-community", "孙静", "community")


def test_the_case_page_starts_with_the_report_and_shows_what_a_request_asks(
    client: TestClient, demo_city: Engine, sign_in: SignIn, settings: Settings
) -> None:
    grid, lon, lat = grid_point(demo_city, GRID)
    community = sign_in("page-community", Role.COMMUNITY, grid[:12])
    worker = sign_in("page-gw", Role.GRIDWORKER, grid)
    with demo_city.begin() as conn:
        conn.execute(text("UPDATE app_user SET display_name = '王芳' WHERE username = 'page-gw'"))
    case = str(write_event(demo_city, event_body(lon, lat, category="0151", reporter="page-gw"), datetime.now(UTC)))
    _act(client, case, community, action="file")
    _act(client, case, worker, action="accept")
    _act(client, case, worker, action="extend", note="等材料", length="1d")
    rules = settings.rules()
    deadline = datetime.fromisoformat(client.get(f"/v1/cases/{case}", headers=community).json()["deadline"])
    later = rules.after("0151", deadline, rules.parse_length("0151", "1d")).astimezone(rules.calendar.tz)

    page = client.get(f"/work/cases/{case}", headers=community)
    assert page.status_code == 200
    history = page.text.split('id="history"')[1]
    assert history.index("上报") < history.index("受理立案")  # the report is the first entry
    assert '<td title="page-gw" id="reporter">王芳 · 网格员</td>' in history  # by name and role, the login on hover
    assert f'延期 1d · <span title="page-gw">王芳</span> · 批准后期限 {later:%Y-%m-%d %H:%M}' in page.text
