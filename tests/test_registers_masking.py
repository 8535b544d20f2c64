"""A masked record reveals nothing: no field, and no combination of fields, rebuilds a masked number.

For every route a masked role (street, district supervisors, building heads) can read people
through, the test takes each person in the answer and tries to rebuild the ID number: every date
whose digits fit the hidden positions, kept if it agrees with every birth, year, age or age-band
field of the record and gives the right check digit. More than a hundred candidates must
remain, and no string anywhere in the answer may hold the birth date, the whole ID number
or the whole phone number. The register's pages and the list of changes (a proposal to add a
person holds their number) are read the same way, as text.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from registers.ids import age_band, birth_date, id_problem
from tests.conftest import SignIn
from tests.pipeline_fixtures import grid_point
from tests.registers_fixtures import add_household

G = 287  # a demo grid no other test uses
PEOPLE = {"丁": "110105194110200013", "戊": "321111194110202702", "己": "110105201203040023"}
PHONE = "13800138000"
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def home(demo_city: Engine, settings: Settings) -> dict[str, str]:
    grid, lon, lat = grid_point(demo_city, G)
    people = [(name, number, ("独居老人",)) for name, number in PEOPLE.items()]
    household = add_household(demo_city, settings, grid, (lon, lat), "0202", people, date(2026, 1, 1), building="905")
    return {"grid": grid, "household": household}


def strings(value: Any) -> Iterator[str]:
    """Every scalar of a JSON answer, as text."""
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif value is not None:
        yield str(value)


def _fits(key: str, value: Any, day: date, today: date) -> bool:
    """Whether a field of the person's record agrees with a birth on ``day`` (fields not about age always do)."""
    if value is None:
        return True
    if key == "age_band":
        return bool(age_band(day, today) == value)
    if "birth" in key:
        return str(value) in (day.isoformat(), day.strftime("%Y%m%d"), str(day.year))
    if "year" in key:
        return str(value) == str(day.year)
    if key == "age":
        return bool(age_band(day, today).split("-")[0] <= str(value))
    return True


def candidates(masked: str, shown: dict[str, Any], today: date) -> list[str]:
    """Every ID number that agrees with the masked one and with every age-like field of the person's record."""
    assert len(masked) == 18 and masked[6:14] == "********", masked
    found = []
    day = date(1900, 1, 1)
    while day <= today:
        number = masked[:6] + day.strftime("%Y%m%d") + masked[14:]
        if all(_fits(k, v, day, today) for k, v in shown.items()) and id_problem(number) is None:
            found.append(number)
        day += timedelta(days=1)
    return found


def person_of(answer: Any) -> list[dict[str, Any]]:
    if "people" in answer:
        return list(answer["people"])
    return [answer]


NEWBORN = "110105202501010011"  # proposed by the gridworker: the changes list holds it masked


def _scope(role: Role, home: dict[str, str]) -> str:
    return home["household"][:18] if role is Role.BUILDING_HEAD else home["grid"][: {Role.STREET: 9}.get(role, 6)]


@pytest.mark.parametrize("role", [Role.STREET, Role.DISTRICT, Role.BUILDING_HEAD])
def test_no_masked_number_can_be_rebuilt_from_any_answer_a_masked_role_gets(
    client: TestClient, sign_in: SignIn, home: dict[str, str], role: Role
) -> None:
    worker = sign_in("mask-gw", Role.GRIDWORKER, home["grid"])
    proposal = {"client_id": "6f1c9d52-3d0b-4b43-9a55-2f0e4c1a0001", "reason": "出生", "name": "庚", "relation": "孙"}
    added = client.post(
        f"/v1/households/{home['household']}/people", headers=worker, json=proposal | {"id_number": NEWBORN}
    )
    assert added.status_code == 200, added.text
    headers = sign_in(f"mask-{role.value}", role, _scope(role, home))
    household = client.get(f"/v1/households/{home['household']}", headers=headers)
    assert household.status_code == 200, household.text
    answers = [household.json()]
    for person in household.json()["people"]:
        one = client.get(f"/v1/people/{person['id']}", headers=headers, params={"purpose": "核实"})
        assert one.status_code == 200
        answers.append(one.json())
    for number in PEOPLE.values():
        found = client.post("/v1/people/search", headers=headers, json={"id_number": number})
        assert found.status_code == 200 and len(found.json()["people"]) == 1
        answers.append(found.json())
    for name in PEOPLE:  # other tests' people may share a name: those of this household are read
        found = client.post("/v1/people/search", headers=headers, json={"name": name})
        here = [p for p in found.json()["people"] if p["household"] == home["household"]]
        assert found.status_code == 200 and len(here) == 1, found.text
        answers.append({"people": here})
    texts = [client.get(f"/v1/buildings/{home['household'][:18]}", headers=headers).text]
    if role is not Role.BUILDING_HEAD:  # supervisors: the register's pages, and the changes awaiting a decision
        texts.append(client.get("/v1/register-changes", headers=headers).text)
        pages = [f"/work/registers/households/{home['household']}", "/work/registers/changes"]
        pages += [f"/work/registers/people/{p['id']}?purpose=visit" for p in household.json()["people"]]
        for path in pages:
            page = client.get(path, headers=headers)
            assert page.status_code == 200, path
            texts.append(page.text)
        assert NEWBORN[:6] + "********" + NEWBORN[14:] in texts[1]  # the proposal is there, masked
    for number, born in [(n, birth_date(n)) for n in [*PEOPLE.values(), NEWBORN]]:
        assert born is not None
        leaks = [t for t in texts if number in t or PHONE in t or born.isoformat() in t or born.strftime("%Y%m%d") in t]
        assert leaks == []
    today = datetime.now(TZ).date()
    tried = 0
    for answer in answers:
        for shown in person_of(answer):
            number = PEOPLE[shown["name"]]
            born = birth_date(number)
            assert born is not None and shown["masked"] is True
            texts = list(strings(answer))
            assert not [t for t in texts if born.isoformat() in t or born.strftime("%Y%m%d") in t], texts
            assert not [t for t in texts if PHONE in t or number in t]
            rebuilt = candidates(shown["id_number"], shown, today)
            assert number in rebuilt  # the test's own reasoning holds
            assert len(rebuilt) > 100, f"{shown['name']}: only {len(rebuilt)} numbers fit {answer}"
            tried += 1
    assert tried == 3 + 3 + 3 + 3


def test_the_grids_own_staff_see_the_birth_date_and_the_band(
    client: TestClient, sign_in: SignIn, home: dict[str, str]
) -> None:
    headers = sign_in("mask-gw", Role.GRIDWORKER, home["grid"])
    people = client.get(f"/v1/households/{home['household']}", headers=headers).json()["people"]
    shown = {p["name"]: p for p in people}
    assert shown["丁"]["birth_date"] == "1941-10-20" and shown["丁"]["id_number"] == PEOPLE["丁"]
    assert shown["丁"]["age_band"] == age_band(date(1941, 10, 20), datetime.now(TZ).date())


def test_age_bands_by_hand() -> None:
    assert age_band(date(1941, 10, 20), date(2026, 10, 19)) == "80-89"  # 84, a day before the 85th birthday
    assert age_band(date(1946, 12, 6), date(2026, 12, 6)) == "80-89"  # 80 today
    assert age_band(date(1946, 12, 7), date(2026, 12, 6)) == "70-79"  # 79 until tomorrow
    assert age_band(date(2026, 3, 1), date(2026, 12, 6)) == "0-9"
