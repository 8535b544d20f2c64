"""Case numbers (案卷编号): district, day in the city's zone and that day's serial; unique; taken by every route."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.numbers import case_number, reserve_numbers
from db.engine import alembic_config, upgrade
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event

SHANGHAI = ZoneInfo("Asia/Shanghai")
GRID = 133  # a demo grid used by no other test


def test_a_number_reads_district_day_and_serial_of_four_digits_at_least() -> None:
    assert case_number("321111", date(2026, 12, 6), 17) == "321111-20261206-0017"
    assert case_number("321111", date(2026, 12, 6), 12345) == "321111-20261206-12345"
    assert case_number(None, date(2026, 12, 6), 1) == "000000-20261206-0001"  # outside every district


def test_serials_count_per_district_and_local_day_and_never_repeat_under_concurrent_writers(
    scratch_engine: Engine,
) -> None:
    # 23:30 UTC on 5 Dec is 07:30 on 6 Dec in the city: the local day counts.
    late, early = datetime(2026, 12, 5, 23, 30, tzinfo=UTC), datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
    first = reserve_numbers(
        scratch_engine, [("321111", late), ("321112", late), ("321111", early), ("321111", late)], SHANGHAI
    )
    assert first == ["321111-20261206-0001", "321112-20261206-0001", "321111-20261205-0001", "321111-20261206-0002"]
    assert reserve_numbers(scratch_engine, [("321111", late)], SHANGHAI) == ["321111-20261206-0003"]

    def batch(_: int) -> list[str]:
        return reserve_numbers(scratch_engine, [("321111", late), ("321112", late)] * 25, SHANGHAI)

    with ThreadPoolExecutor(8) as pool:
        numbers = [n for part in pool.map(batch, range(16)) for n in part]
    assert len(numbers) == len(set(numbers)) == 800
    serials = sorted(int(n[-4:]) for n in numbers if n.startswith("321111"))
    assert serials == list(range(4, 404))  # 3 given before, then 400 without a gap


def test_the_migration_numbers_stored_cases_in_the_order_they_were_reported(
    scratch_settings: Settings, scratch_engine: Engine
) -> None:
    url = scratch_settings.database.url
    command.downgrade(alembic_config(url), "0022")
    reported = {  # in UTC; the local day turns at 16:00 UTC
        "00000000-0000-4000-8000-000000000003": datetime(2026, 12, 5, 16, 30, tzinfo=UTC),  # 6 Dec, 00:30
        "00000000-0000-4000-8000-000000000001": datetime(2026, 12, 5, 9, 0, tzinfo=UTC),  # 5 Dec
        "00000000-0000-4000-8000-000000000002": datetime(2026, 12, 5, 15, 59, tzinfo=UTC),  # 5 Dec, 23:59
        "00000000-0000-4000-8000-000000000004": datetime(2026, 12, 5, 12, 0, tzinfo=UTC),  # another district
    }
    with scratch_engine.begin() as conn:
        for case_id, at in reported.items():
            district = "321112" if case_id.endswith("4") else "321111"
            conn.execute(
                text(
                    'INSERT INTO "case" (id, category, sla_class, state, level, district_code, opened_at)'
                    " VALUES (:id, '0102', 'minor', 'reported', 'street', :d, :at)"
                ),
                {"id": case_id, "d": district, "at": at},
            )
    upgrade(url, "0023")
    with scratch_engine.connect() as conn:
        numbers = dict(conn.execute(text('SELECT id::text, number FROM "case"')).all())
        serials = conn.execute(text("SELECT region, day, last FROM case_serial ORDER BY region, day")).all()
    assert numbers == {
        "00000000-0000-4000-8000-000000000001": "321111-20261205-0001",
        "00000000-0000-4000-8000-000000000002": "321111-20261205-0002",
        "00000000-0000-4000-8000-000000000003": "321111-20261206-0001",
        "00000000-0000-4000-8000-000000000004": "321112-20261205-0001",
    }
    assert [tuple(r) for r in serials] == [
        ("321111", date(2026, 12, 5), 2),
        ("321111", date(2026, 12, 6), 1),
        ("321112", date(2026, 12, 5), 1),
    ]
    # A new case of that day follows on.
    assert reserve_numbers(
        scratch_engine, [("321111", reported["00000000-0000-4000-8000-000000000002"])], SHANGHAI
    ) == ["321111-20261205-0003"]


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_case_is_found_by_its_number_on_every_route(client: TestClient, demo_city: Engine, sign_in: SignIn) -> None:
    grid, lon, lat = grid_point(demo_city, GRID)
    community = sign_in("numbers-community", Role.COMMUNITY, grid[:12])
    at = datetime.now(UTC)
    case_id = str(write_event(demo_city, event_body(lon, lat, category="0151", reporter="numbers-gw"), at))
    by_id = client.get(f"/v1/cases/{case_id}", headers=community).json()
    number = by_id["number"]
    assert number.startswith(f"{grid[:6]}-{at.astimezone(SHANGHAI):%Y%m%d}-")

    assert client.get(f"/v1/cases/{number}", headers=community).json()["id"] == case_id
    assert client.get(f"/v1/cases/{number}/actions", headers=community).status_code == 200
    filed = client.post(f"/v1/cases/{number}/transitions", json={"action": "file"}, headers=community)
    assert filed.status_code == 200 and filed.json()["state"] == "filed"
    page = client.get(f"/work/cases/{number}", headers=community)
    assert page.status_code == 200 and number in page.text
    listed = client.get("/v1/work/queue?tab=dispatch&limit=500", headers=community).json()["cases"]
    assert number in [c["number"] for c in listed]

    unknown = client.get(f"/v1/cases/{grid[:6]}-20000101-9999", headers=community)
    assert unknown.status_code == 404 and unknown.json()["message"].startswith("您的管辖范围内没有案件")
    malformed = client.get("/v1/cases/0017", headers=community)
    assert malformed.status_code == 422
