"""``GET /v1/cases`` pages by key: walking ``next`` gives every case once, in the list's order (open before
closed, soonest deadline first, none last, then id); a key it did not give is refused with what to send.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.reads import COUNT_CAP
from tests.conftest import SignIn
from tests.test_sla_db import record

GRID_INDEX = 249  # no other test's cases lie in it


@pytest.fixture(scope="module")
def grid_cases(demo_city: Engine) -> Iterator[tuple[str, list[str]]]:
    """Eleven cases in one grid: deadlines spread, two equal, two none; three closed. (grid, ids in list order)."""
    base = datetime(2026, 11, 2, 9, tzinfo=UTC)
    due = datetime.now(UTC) + timedelta(days=30)  # not due yet: no open case of this module is late on any map
    ids = [record(demo_city, "incident", "0102", base + timedelta(minutes=i), GRID_INDEX) for i in range(11)]
    # (deadline in hours after ``due`` or None, closed): the order the list must give is worked out by hand below.
    shape = [(30, False), (10, False), (None, False), (20, True), (10, False), (5, True),
             (None, True), (40, False), (1, False), (None, False), (15, True)]  # fmt: skip
    with demo_city.begin() as conn:
        for case, (hours, closed) in zip(ids, shape, strict=True):
            conn.execute(
                text(
                    'UPDATE "case" SET deadline = :deadline, closed_at = :closed,'
                    " state = CASE WHEN :is_closed THEN 'closed' ELSE state END WHERE id = :id"
                ),
                {
                    "id": case,
                    "deadline": None if hours is None else due + timedelta(hours=hours),
                    "closed": base + timedelta(days=1) if closed else None,
                    "is_closed": closed,
                },
            )
        grid = conn.execute(text('SELECT grid_code FROM "case" WHERE id = :id'), {"id": ids[0]}).scalar_one()
    open_ = [(8, 1), (1, 10), (4, 10), (0, 30), (7, 40), (2, None), (9, None)]  # (index, hours)
    closed_ = [(5, 5), (10, 15), (3, 20), (6, None)]

    def order(group: list[tuple[int, int | None]]) -> list[str]:
        return [
            ids[i] for i, hours in sorted(group, key=lambda g: (g[1] is None, g[1] or 0, ids[g[0]].replace("-", "")))
        ]

    yield grid, order(open_) + order(closed_)
    with demo_city.begin() as conn:  # closed, so no other test's map or queue meets them
        conn.execute(
            text(
                "UPDATE \"case\" SET state = 'closed', closed_at = :at"
                " WHERE id = ANY(CAST(:ids AS uuid[])) AND closed_at IS NULL"
            ),
            {"at": base + timedelta(days=1), "ids": ids},
        )


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in("sup-list", Role.DISTRICT, "321111"))
        yield client


def test_walking_next_gives_every_case_once_in_the_lists_order(
    client: TestClient, grid_cases: tuple[str, list[str]]
) -> None:
    grid, expected = grid_cases
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"area": grid, "limit": 3} | ({"after": after} if after else {})
        body = client.get("/v1/cases", params=params).json()
        assert body["total"] == 11 and body["total_exact"] is True
        seen += [c["id"] for c in body["cases"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
    assert seen == expected
    assert pages == 4  # 3 + 3 + 3 + 2: the last page is short, so it has no next
    closed = client.get("/v1/cases", params={"area": grid, "state": "closed", "limit": 2}).json()
    rest = client.get("/v1/cases", params={"area": grid, "state": "closed", "after": closed["next"]}).json()
    assert [c["id"] for c in closed["cases"] + rest["cases"]] == expected[7:]
    assert rest["next"] is None


@pytest.mark.parametrize("after", ["1.2.3", "2.100.0123456789abcdef0123456789abcdef", "0.inf.xyz", "x" * 60])
def test_a_key_the_list_did_not_give_is_refused_with_what_to_send(client: TestClient, after: str) -> None:
    response = client.get("/v1/cases", params={"after": after}, headers={"Accept-Language": "zh"})
    assert response.status_code == 422
    assert "next" in response.json()["message"] and "after" in response.json()["message"]


def test_the_count_stops_at_its_cap(
    client: TestClient, grid_cases: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert COUNT_CAP == 10_000  # the README's figure
    grid, expected = grid_cases
    monkeypatch.setattr("cases.reads.COUNT_CAP", 5)
    body = client.get("/v1/cases", params={"area": grid}).json()
    assert (body["total"], body["total_exact"]) == (5, False)
    assert [c["id"] for c in body["cases"]] == expected  # the page itself is whole
    monkeypatch.setattr("cases.reads.COUNT_CAP", 11)
    body = client.get("/v1/cases", params={"area": grid}).json()
    assert (body["total"], body["total_exact"]) == (11, True)
