"""The registers through the API: masking by role, the access log, search, visits, due lists, coverage, logs."""

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.loop import Action
from cases.store import transition
from cases.worklog import Week, weekly_closeout
from geo.demo import DEMO_DISTRICT
from registers.visits import due_visits, fill_visit_days, overdue_per_grid, visit_coverage
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, event_body, grid_point
from tests.registers_fixtures import add_household, rolled_as_counted, write_event, write_visit

TZ = ZoneInfo("Asia/Shanghai")
G, H = 103, 104  # demo grids used by no other test
ID_OLD, ID_TWO, ID_H = "110105195505050018", "110105195606060012", "110105200808080015"


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        yield client


@pytest.fixture(scope="module")
def homes(demo_city: Engine, settings: Settings) -> dict[str, object]:
    g, glon, glat = grid_point(demo_city, G)
    h, hlon, hlat = grid_point(demo_city, H)
    mine = add_household(
        demo_city,
        settings,
        g,
        (glon, glat),
        "0101",
        [("甲", ID_OLD, ("独居老人",)), ("乙", ID_TWO, ())],
        date(2026, 1, 1),
    )
    other = add_household(demo_city, settings, h, (hlon, hlat), "0101", [("丙", ID_H, ())], date(2026, 1, 1))
    return {"g": g, "h": h, "mine": mine, "other": other, "gpoint": (glon, glat), "hpoint": (hlon, hlat)}


def _reads(engine: Engine, actor: str) -> int:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM pii_access WHERE actor = :a AND action = 'read'"
        return int(conn.execute(text(query), {"a": actor}).scalar_one())


@pytest.mark.parametrize(
    ("role", "scope_digits", "unmasked"),
    [(Role.GRIDWORKER, 15, True), (Role.COMMUNITY, 12, True), (Role.STREET, 9, False), (Role.DISTRICT, 6, False)],
)
def test_numbers_are_masked_except_to_the_grids_own_staff_and_each_unmasked_read_is_logged(
    client: TestClient,
    sign_in: SignIn,
    homes: dict[str, str],
    demo_city: Engine,
    role: Role,
    scope_digits: int,
    unmasked: bool,
) -> None:
    user = f"reg-{role.value}"
    headers = sign_in(user, role, homes["g"][:scope_digits])
    before = _reads(demo_city, user)
    answer = client.get(f"/v1/households/{homes['mine']}", headers=headers, params={"purpose": "入户走访"})
    assert answer.status_code == 200, answer.text
    shown = {p["name"]: p for p in answer.json()["people"]}
    assert answer.json()["cadence"] == "monthly"  # the tightest of its members' tags
    if unmasked:
        assert (shown["甲"]["id_number"], shown["甲"]["phone"], shown["甲"]["masked"]) == (ID_OLD, "13800138000", False)
    else:
        assert (shown["甲"]["id_number"], shown["甲"]["phone"]) == ("110105********0018", "138****8000")
    assert _reads(demo_city, user) - before == (2 if unmasked else 0)  # one row per person shown unmasked
    person = client.get(f"/v1/people/{shown['乙']['id']}", headers=headers)
    assert person.json()["masked"] is not unmasked
    assert _reads(demo_city, user) - before == (3 if unmasked else 0)


def test_the_access_log_says_who_read_whom_and_for_what(
    client: TestClient, sign_in: SignIn, homes: dict[str, str]
) -> None:
    worker = sign_in("reg-logged", Role.GRIDWORKER, homes["g"])
    client.get(f"/v1/households/{homes['mine']}", headers=worker, params={"purpose": "核实低保"})
    log = client.get("/v1/pii-access", headers=sign_in("reg-admin", Role.ADMIN, ""), params={"actor": "reg-logged"})
    assert log.status_code == 200
    entries = log.json()["entries"]
    assert len(entries) == 2 and {e["purpose"] for e in entries} == {"核实低保"}
    assert {e["household_id"] for e in entries} == {None} and all(e["person_id"] for e in entries)
    assert client.get("/v1/pii-access", headers=worker).status_code == 403


def test_a_household_of_another_grid_is_not_found(client: TestClient, sign_in: SignIn, homes: dict[str, str]) -> None:
    headers = sign_in("reg-gw-h", Role.GRIDWORKER, homes["h"])
    assert client.get(f"/v1/households/{homes['mine']}", headers=headers).status_code == 404
    assert client.get(f"/v1/households/{homes['h']}999-1-0101", headers=headers).status_code == 404
    malformed = client.get("/v1/households/nope", headers=headers)
    assert malformed.status_code == 422 and "household_id" in malformed.text


def test_search_by_id_number_goes_through_the_keyed_hash(
    client: TestClient, sign_in: SignIn, homes: dict[str, str], demo_city: Engine
) -> None:
    headers = sign_in("reg-searcher", Role.GRIDWORKER, homes["g"])
    found = client.post("/v1/people/search", headers=headers, json={"id_number": ID_OLD.lower()})
    assert [p["name"] for p in found.json()["people"]] == ["甲"]
    elsewhere = client.post("/v1/people/search", headers=headers, json={"id_number": ID_H})
    assert elsewhere.json()["people"] == []  # in another grid: not shown, not even masked
    wrong = client.post("/v1/people/search", headers=headers, json={"id_number": "110105195505050011"})
    assert wrong.status_code == 422 and "check digit should be 8, not 1" in wrong.json()["message"]
    with demo_city.connect() as conn:
        searches = conn.execute(
            text("SELECT count(*) FROM pii_access WHERE actor = 'reg-searcher' AND action = 'search'")
        ).scalar_one()
    assert searches == 2


def test_a_visit_names_a_household_of_the_visitors_own_grid(
    client: TestClient, sign_in: SignIn, homes: dict[str, str]
) -> None:
    worker = "gw-reg-visitor"
    headers = sign_in(worker, Role.GRIDWORKER, homes["g"])

    def visit(household: str | None) -> dict[str, object]:
        extra = {"household": household} if household else {}
        return event_body(*homes["gpoint"], kind="visit", category="9002", reporter=worker, **extra)

    unknown = client.post("/v1/events", headers=headers, json=visit("321111-nowhere"))
    assert unknown.status_code == 422
    assert "no household 321111-nowhere in the register" in unknown.json()["message"]
    outside = client.post(
        "/v1/events/batch", headers=headers, json={"events": [visit(homes["mine"]), visit(homes["other"])]}
    )
    assert outside.status_code == 422
    assert outside.json()["detail"] == [
        {
            "field": "events.1.household",
            "problem": f"household {homes['other']} is in grid {homes['h']}, outside your area {homes['g']};"
            " visit the households of your own grid",
        }
    ]
    assert client.post("/v1/events", headers=headers, json=visit(None)).status_code == 422
    assert client.post("/v1/events", headers=headers, json=visit(homes["mine"])).status_code == 202


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def test_due_lists_and_coverage_across_a_month_and_a_quarter_end(
    client: TestClient, sign_in: SignIn, demo_city: Engine, settings: Settings
) -> None:
    grid, lon, lat = grid_point(demo_city, 105)
    point = (lon, lat)
    monthly = add_household(
        demo_city, settings, grid, point, "0101", [("老人", "110105193001010013", ("独居老人",))], date(2026, 1, 1)
    )
    quarterly = add_household(
        demo_city, settings, grid, point, "0102", [("居民", "110105198001010018", ())], date(2026, 1, 1)
    )
    fresh = add_household(
        demo_city, settings, grid, point, "0103", [("新户", "110105199001010016", ())], date(2026, 3, 15)
    )
    # Late on the last day of March (local) and early on the first of April: either side of both ends.
    write_visit(demo_city, monthly, _local(date(2026, 3, 31), 23, 30), point, "gw-" + grid)
    write_visit(demo_city, quarterly, _local(date(2026, 4, 1), 0, 10), point, "gw-" + grid)
    headers = sign_in("gw-" + grid, Role.GRIDWORKER, grid)

    due = client.get("/v1/visits/due", headers=headers, params={"day": "2026-03-31"}).json()
    # monthly: visited in March → due by 30 April; quarterly: not yet visited in Q1 → due by 31 March (today);
    # fresh: registered 15 March → first due quarter Q2 → 30 June.
    assert [(d["household"], d["due_by"]) for d in due["this_week"]] == [(quarterly, "2026-03-31")]
    assert [(d["household"], d["due_by"]) for d in due["later"]] == [(monthly, "2026-04-30"), (fresh, "2026-06-30")]
    after = client.get("/v1/visits/due", headers=headers, params={"day": "2026-05-04"}).json()
    # 4 May: monthly's April passed without a visit (overdue since 30 April); quarterly visited in Q2 → 30 September.
    assert [(d["household"], d["due_by"]) for d in after["overdue"]] == [(monthly, "2026-04-30")]
    assert [d["household"] for d in after["later"]] == [fresh, quarterly]

    def covered(day: str) -> dict[str, object]:
        answer = client.get("/v1/visits/coverage", headers=headers, params={"area": grid, "day": day})
        assert answer.status_code == 200, answer.text
        return answer.json()

    march = covered("2026-03-31")
    # March: 1 monthly household due, visited (23:30 on the 31st counts for March).
    # Q1: quarterly due (registered 1 January), visited only on 1 April → not in Q1; fresh not due yet: 0 of 1.
    assert (march["vulnerable"]["due"], march["vulnerable"]["visited"], march["vulnerable"]["coverage"]) == (1, 1, 1.0)
    assert (march["others"]["due"], march["others"]["visited"], march["others"]["coverage"]) == (1, 0, 0.0)
    april = covered("2026-04-30")
    # April: the monthly household was not visited in April (0 of 1). Q2: quarterly (visited 1 April) and
    # fresh (first due in Q2, not visited): 1 of 2.
    assert (april["vulnerable"]["visited"], april["vulnerable"]["coverage"]) == (0, 0.0)
    assert (april["others"]["due"], april["others"]["visited"], april["others"]["coverage"]) == (2, 1, 0.5)
    assert april["others"]["period"] == ["2026-04-01", "2026-06-30"]

    # Today (after September 2026) all three are overdue: no visit since April; the map counts them.
    layer = {"area": grid, "metric": "overdue_visits"}
    grids = client.get("/v1/map/grids", headers=headers, params=layer).json()
    assert [f["properties"]["value"] for f in grids["features"]] == [3.0]
    page = client.get("/map", headers=headers, params=layer)
    assert page.status_code == 200 and "走访超期户数" in page.text


def test_the_daily_work_log_and_its_note(
    client: TestClient, sign_in: SignIn, demo_city: Engine, homes: dict[str, str]
) -> None:
    worker = "gw-reg-logger"
    headers = sign_in(worker, Role.GRIDWORKER, homes["g"])
    day = date(2026, 11, 2)
    write_visit(demo_city, homes["mine"], _local(day, 10), homes["gpoint"], worker)
    write_visit(demo_city, homes["mine"], _local(day + timedelta(days=1), 10), homes["gpoint"], worker)  # next day
    assert (
        client.put(f"/v1/worklogs/{worker}/{day}/note", headers=headers, json={"note": "走访独居老人"}).status_code
        == 204
    )
    log = client.get(f"/v1/worklogs/{worker}/{day}", headers=headers).json()
    assert log["counts"] == {"patrols": 0, "reports": 0, "visits": 1, "cases_handled": 0}
    assert log["note"] == "走访独居老人" and log["visits"][0]["household"] == homes["mine"]
    exported = client.get(f"/v1/worklogs/{worker}/{day}", headers=headers, params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    assert "visit" in exported.text and "走访独居老人" in exported.text
    other = sign_in("reg-other-gw", Role.GRIDWORKER, homes["h"])
    assert client.put(f"/v1/worklogs/{worker}/{day}/note", headers=other, json={"note": "x"}).status_code == 403
    assert client.get(f"/v1/worklogs/{worker}/{day}", headers=other).status_code == 404
    community = sign_in("reg-community", Role.COMMUNITY, homes["g"][:12])
    assert client.get(f"/v1/worklogs/{worker}/{day}", headers=community).status_code == 200


def test_the_weekly_close_out_lists_the_cases_ended_and_tells_each_reporter(
    client: TestClient, sign_in: SignIn, demo_city: Engine, settings: Settings
) -> None:
    grid, lon, lat = grid_point(demo_city, 106)
    rules = settings.rules()
    now = datetime.now(UTC)
    closed, refused = (
        write_event(demo_city, event_body(lon, lat, category="8404", reporter=reporter), now)
        for reporter in ("gw-close-a", "gw-close-b")
    )
    for action, kwargs in (
        (Action.FILE, {}),
        (Action.DISPATCH, {"assignee": "gw-close-a"}),
        (Action.ACCEPT, {}),
        (Action.RESOLVE, {}),
        (Action.VERIFY, {}),
    ):
        transition(
            demo_city, closed, action, "closer", "已清理" if action is Action.VERIFY else "", now, rules, **kwargs
        )
    transition(demo_city, refused, Action.REFUSE, "closer", "不属于本网格事项", now, rules)
    week = now.astimezone(TZ).date().isocalendar()
    name = f"{week.year}-W{week.week:02d}"
    headers = sign_in("close-community", Role.COMMUNITY, grid[:12])
    answer = client.get(f"/v1/closeouts/{grid[:12]}/{name}", headers=headers)
    assert answer.status_code == 200, answer.text
    ours = {c["id"]: c for c in answer.json()["cases"] if c["id"] in {str(closed), str(refused)}}
    assert ours[str(closed)]["outcome"] == "按期办结 closed on time: 已清理"
    assert ours[str(refused)]["outcome"] == "不予立案 not taken up: 不属于本网格事项"
    feedback = {f["reporter"]: f["cases"] for f in answer.json()["feedback"]}
    assert feedback["gw-close-b"] == [{"id": str(refused), "outcome": "不予立案 not taken up: 不属于本网格事项"}]
    with demo_city.connect() as conn:  # written at once, it reads as FastAPI's own encoding of the same close-out
        same = weekly_closeout(conn, grid[:12], Week.parse(name), rules, datetime.now(UTC))
    assert answer.text == json.dumps(jsonable_encoder(same), ensure_ascii=False, separators=(",", ":"))
    assert client.get(f"/v1/closeouts/{grid[:12]}/2026-W60", headers=headers).status_code == 422
    csv_out = client.get(f"/v1/closeouts/{grid[:12]}/{name}", headers=headers, params={"format": "csv"})
    assert "不属于本网格事项" in csv_out.text


@pytest.mark.parametrize("day", [date(2026, 3, 31), date(2026, 4, 15), date(2026, 7, 1), None])
def test_the_maps_overdue_count_per_grid_is_the_due_lists(
    client: TestClient, homes: dict[str, str], demo_city: Engine, settings: Settings, day: date | None
) -> None:
    rules, tz = settings.visit_rules(), settings.rules().calendar.tz
    today = day or datetime.now(tz).date()
    with demo_city.connect() as conn:
        listed = Counter(d.grid for d in due_visits(conn, DEMO_DISTRICT, today, rules, tz) if d.status == "overdue")
        counted = overdue_per_grid(conn, DEMO_DISTRICT, today, rules, tz)
    assert counted == dict(listed)
    if day is None:
        assert sum(counted.values()) >= 3  # this module's households at least


def test_the_latest_visit_kept_on_the_household_reads_as_the_visit_events(
    demo_city: Engine, settings: Settings
) -> None:
    """Today's due lists, coverage and the map read ``household.last_visit_at`` (past days the visit events): alike."""
    grid, lon, lat = grid_point(demo_city, 252)
    point = (lon, lat)
    home = add_household(
        demo_city, settings, grid, point, "0101", [("住户", "110105198001010026", ())], date(2026, 1, 1)
    )
    rules, tz = settings.visit_rules(), settings.rules().calendar.tz
    today = datetime.now(tz).date()
    latest = datetime.now(tz).replace(microsecond=0) - timedelta(days=40)
    write_visit(demo_city, home, latest, point, "gw-" + grid)
    write_visit(demo_city, home, latest - timedelta(days=20), point, "gw-" + grid)  # an older one recorded after
    with demo_city.connect() as conn:
        kept = conn.execute(text("SELECT last_visit_at FROM household WHERE id = :id"), {"id": home}).scalar_one()
        assert kept == latest
        assert due_visits(conn, grid, today, rules, tz) == due_visits(conn, grid, today, rules, tz, from_events=True)
        for area in (grid, DEMO_DISTRICT):
            assert overdue_per_grid(conn, area, today, rules, tz) == overdue_per_grid(
                conn, area, today, rules, tz, from_events=True
            )
            assert visit_coverage(conn, area, today, rules, tz) == visit_coverage(
                conn, area, today, rules, tz, from_events=True
            )
        (mine,) = due_visits(conn, grid, today, rules, tz)
    assert mine.last_visit == latest.date()
    assert rolled_as_counted(demo_city)
    with demo_city.begin() as conn:  # as migration 0028 leaves a visit kept before it: its day filled by the upgrade
        conn.execute(text("UPDATE household SET last_visit_on = NULL WHERE id = :id"), {"id": home})
        assert fill_visit_days(conn, tz) >= 1
        day = conn.execute(text("SELECT last_visit_on FROM household WHERE id = :id"), {"id": home}).scalar_one()
    assert day == latest.date() and rolled_as_counted(demo_city)
