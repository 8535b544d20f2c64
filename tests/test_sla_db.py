"""The SLA clock on the real database and broker, with a controllable clock."""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.clock import escalate_breaches, flag_patrols, start_clocks
from cases.loop import Action
from cases.rules import Level, load_rules
from cases.store import transition
from geo.locator import Locator
from streams import stages
from streams.kafka import consumer
from streams.outbox import Outbox
from streams.producer import EventProducer
from streams.schema import Event, Received
from streams.topics import Topics
from streams.writer import write_events
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, event_body, grid_point

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def record(engine: Engine, kind: str, category: str, when: datetime, grid_index: int = 0) -> str:
    """An event received at ``when`` in the given grid, written as the worker would."""
    _, lon, lat = grid_point(engine, grid_index)
    body = event_body(lon, lat, kind=kind, category=category) | {"occurred_at": when.isoformat()}
    event = Event.model_validate_json(json.dumps(body))
    received = Received.stamp(event, when)
    located = stages.locate([stages.Decoded(received, 0, 0)], Locator(engine).index())
    write_events(engine, located)
    return str(event.id)


def start_all_clocks(engine: Engine) -> None:
    """Start every waiting clock, as the engine's ticks would (other tests leave cases behind too)."""
    while start_clocks(engine, RULES):
        pass


def escalate_all(engine: Engine, now: datetime) -> None:
    """Escalate every breached case as of ``now``, however many other tests left before this one's."""
    while escalate_breaches(engine, RULES, now):
        pass


def history(engine: Engine, case_id: str) -> list[tuple[str, str, datetime]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(  # type: ignore[misc]
                text("SELECT action, to_level, at FROM case_transition WHERE case_id = :id ORDER BY seq"),
                {"id": case_id},
            )
        ]


def test_a_case_nobody_acts_on_climbs_each_level_once_at_the_right_times(demo_city: Engine) -> None:
    opened = at(2026, 11, 19, 9, 0)  # Thursday
    case = record(demo_city, "incident", "0102", opened)
    start_all_clocks(demo_city)
    grid_due = RULES.deadline("0102", Level.GRID, opened)
    community_due = RULES.deadline("0102", Level.COMMUNITY, grid_due)
    street_due = RULES.deadline("0102", Level.STREET, community_due)
    department_due = RULES.deadline("0102", Level.DEPARTMENT, street_due)
    assert grid_due == at(2026, 11, 19, 14, 30)

    escalate_all(demo_city, grid_due - timedelta(seconds=1))
    taken_in = ("auto_intake", "grid", opened)  # 暴露垃圾: handled on the spot, in progress from the report
    assert history(demo_city, case) == [taken_in]
    for now in (
        grid_due,
        grid_due + timedelta(seconds=30),
        community_due,
        street_due,
        street_due,
        department_due + timedelta(minutes=1),
        department_due + timedelta(days=3),
    ):
        escalate_all(demo_city, now)
    assert history(demo_city, case) == [
        taken_in,
        ("auto_escalate", "community", grid_due),
        ("auto_escalate", "street", community_due),
        ("auto_escalate", "department", street_due),
        ("overdue", "department", department_due),
    ]
    with demo_city.connect() as conn:
        level, department, escalations = conn.execute(
            text('SELECT level, department, escalations FROM "case" WHERE id = :id'), {"id": case}
        ).one()
    assert (level, department, escalations) == ("department", "区城市管理局", 3)


def test_two_engines_never_escalate_a_case_twice(demo_city: Engine) -> None:
    opened = at(2026, 11, 16, 9, 0)
    cases = [record(demo_city, "incident", "8301", opened, i) for i in range(40)]
    start_all_clocks(demo_city)  # urgent: sent straight to the fire brigade
    with demo_city.begin() as conn:  # ... which the grid took on itself: its fix clock climbs the levels
        conn.execute(
            text(
                "UPDATE \"case\" SET state = 'in_progress', level = 'grid', deadline = :due"
                " WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"due": opened + timedelta(minutes=15), "ids": cases},
        )
    errors: list[BaseException] = []

    def engine_loop(offset: int) -> None:
        try:
            for minute in range(offset, 200, 7):
                escalate_breaches(demo_city, RULES, opened + timedelta(minutes=minute), limit=5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=engine_loop, args=(k,)) for k in (0, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    escalate_all(demo_city, opened + timedelta(days=1))
    assert errors == []
    with demo_city.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT case_id, action, to_level, count(*) FROM case_transition"
                " WHERE case_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1, 2, 3"
            ),
            {"ids": cases},
        ).all()
    assert all(n == 1 for *_, n in rows)
    assert len(rows) == 5 * len(cases)  # intake, 3 escalations, overdue


def test_a_grid_without_a_patrol_is_flagged_after_the_cut_off_and_not_before(demo_city: Engine) -> None:
    day = at(2026, 11, 18, 0, 0)
    patrolled, idle = grid_point(demo_city, 100)[0], grid_point(demo_city, 101)[0]
    record(demo_city, "patrol", "9001", day + timedelta(hours=10), 100)

    def flagged(grid: str) -> bool:
        with demo_city.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT count(*) FROM patrol_breach WHERE grid_code = :g AND day = :d"),
                    {"g": grid, "d": day.date()},
                ).scalar_one()
            )

    flag_patrols(demo_city, RULES, day + timedelta(hours=17, minutes=59))
    assert not flagged(idle) and not flagged(patrolled)
    flag_patrols(demo_city, RULES, day + timedelta(hours=18, minutes=1))
    assert flagged(idle) and not flagged(patrolled)


def test_indicators_match_hand_computed_values(demo_city: Engine, settings: Settings, sign_in: SignIn) -> None:
    grid_index = 200
    grid = grid_point(demo_city, grid_index)[0]
    opened = at(2026, 9, 15, 9, 0)  # Tuesday
    a, b, c = (record(demo_city, "incident", "0102", opened, grid_index) for _ in range(3))
    d = record(demo_city, "incident", "8401", opened, grid_index)
    record(demo_city, "patrol", "9001", at(2026, 9, 15, 10, 0), grid_index)
    record(demo_city, "patrol", "9001", at(2026, 9, 16, 10, 0), grid_index)
    start_all_clocks(demo_city)

    def act(case: str, action: Action, *hm: int, note: str = "n", actor: str = "gw-test", length: str = "") -> None:
        day = at(2026, 9, *hm)
        transition(demo_city, uuid.UUID(case), action, actor, note, day, RULES, length=length or None)

    # a, b, c (暴露垃圾) are handled on the spot: in progress from 09:00, due 14:30.
    for action, hm in ((Action.RESOLVE, (15, 10, 30)), (Action.VERIFY, (15, 11, 0))):
        act(a, action, *hm)  # closed in 2 working hours, inside the grid
    for action, hm in (
        (Action.RESOLVE, (15, 10, 0)),
        (Action.REJECT_RESOLUTION, (15, 11, 0)),  # rework: a fresh 4 working hours, due 16:30
        (Action.RESOLVE, (15, 14, 0)),
        (Action.VERIFY, (15, 14, 0)),
    ):
        act(b, action, *hm, note="not clean yet")  # one rework, closed after 3.5 working hours
    escalate_all(demo_city, at(2026, 9, 15, 14, 31))  # c misses 14:30: the community has until 15:00 on the 16th
    for action, hm in ((Action.RESOLVE, (16, 9, 30)), (Action.VERIFY, (16, 10, 0))):
        act(c, action, *hm)  # closed after 8.5 working hours, late
    # d (邻里纠纷) waits for intake; filed 09:30, taken on by the grid 10:00 (8 working hours: due 10:30 on
    # the 16th), then extended by one working day on approval: due at 17:30 on the 17th.
    act(d, Action.FILE, 15, 9, 30, actor="sup")
    act(d, Action.ACCEPT, 15, 10, 0)
    act(d, Action.EXTEND, 15, 10, 30, note="needs the owners' meeting", length="1d")
    act(d, Action.APPROVE, 15, 10, 45, actor="sup")

    with TestClient(create_app(settings), headers=ENGLISH) as client:
        client.headers.update(sign_in("commander", Role.COMMANDER, ""))
        body = client.get("/v1/indicators", params={"area": grid, "from": "2026-09-15", "to": "2026-09-17"}).json()
    # Deadlines: a 14:30 and b 16:30 on the 15th, c 15:00 on the 16th (after its escalation), d 17:30 on
    # the 17th (extended). All four fall in the period, so 应结案数 is 4; a and b closed on time; c closed
    # after its escalation (late); d is open.
    assert (body["received"], body["filed"], body["due"], body["closed"], body["closed_on_time"]) == (4, 4, 4, 3, 2)
    assert body["closure_rate"] == 0.75
    assert body["on_time_closure_rate"] == 0.5
    assert body["overdue"] == 2  # c (closed late) and d (open past its deadline)
    assert body["extension_rate"] == 0.25
    assert body["in_grid_closure_rate_minor"] == round(2 / 3, 4)
    assert body["rework_rate"] == 0.25  # 4 checks (a, b twice, c), 1 failed
    # Working hours to close: a 2, b 3.5 (09:00–12:00, 13:30–14:00), c 8.5 (7 on the 15th, 1.5 on the 16th).
    assert body["mean_working_hours_to_close"] == round((2 + 3.5 + 8.5) / 3, 3)
    assert body["p90_working_hours_to_close"] == round(3.5 + 0.8 * (8.5 - 3.5), 3)
    assert body["escalations"] == {"community": 1, "street": 0, "department": 0}
    assert body["patrol_coverage"] == round(2 / 3, 4)  # 15–17 Sep are working days; patrols on two
    assert body["urgent"] == {"due": 0, "closed_on_time": 0, "on_time_closure_rate": None}
    for action in (Action.RESOLVE, Action.VERIFY):  # after the period: no open case left for later tests' clocks
        act(d, action, 21, 9, 0, actor="sup")


def test_rates_stay_between_0_and_1_in_the_two_counterexamples(
    demo_city: Engine, settings: Settings, sign_in: SignIn
) -> None:
    """The review's counterexamples: the old formulas gave 2.0 and -1.0."""

    def act(case: str, action: Action, *dhm: int, note: str = "n", actor: str = "gw-test", length: str = "") -> None:
        day = at(2026, 8, *dhm)
        transition(demo_city, uuid.UUID(case), action, actor, note, day, RULES, length=length or None)

    def close(case: str, day: int, hour: int) -> None:  # a case handled on the spot: in progress already
        for action in (Action.RESOLVE, Action.VERIFY):
            act(case, action, day, hour, 0)

    opened = at(2026, 8, 3, 9, 0)  # Monday; 0102 is due at 14:30
    grid_a, grid_b = (grid_point(demo_city, i)[0] for i in (250, 251))
    normal = record(demo_city, "incident", "0102", opened, 250)
    extended = record(demo_city, "incident", "0102", opened, 250)
    later = record(demo_city, "incident", "BJ0116", at(2026, 8, 7, 16, 0), 250)  # waits for intake; then refused
    urgent = record(demo_city, "incident", "8301", at(2026, 8, 4, 10, 0), 250)  # straight to its unit
    signed_late = record(demo_city, "incident", "8302", at(2026, 8, 5, 10, 0), 250)  # the same unit, due 10:15
    noise = record(demo_city, "incident", "8602", at(2026, 8, 4, 9, 0), 250)  # waits for intake
    noise_again = record(demo_city, "incident", "8602", at(2026, 8, 4, 9, 30), 250)  # the same noise: a duplicate
    bogus = record(demo_city, "incident", "8602", at(2026, 8, 4, 10, 0), 250)  # invalid
    on_time = record(demo_city, "incident", "0102", opened, 251)
    suspended = [record(demo_city, "incident", "0102", opened, 251) for _ in range(2)]
    start_all_clocks(demo_city)
    close(normal, 3, 10)
    act(extended, Action.EXTEND, 3, 9, 30, note="waiting for the owner", length="1h")
    act(extended, Action.APPROVE, 3, 9, 40, actor="sup")  # due 15:30 instead of 14:30
    close(extended, 3, 11)
    # The department signs at 10:02 (due 10:15): 120 calendar minutes to fix, due 12:02; closed 10:05.
    act(urgent, Action.ACCEPT, 4, 10, 2, actor="fire-brigade")
    act(urgent, Action.RESOLVE, 4, 10, 2, actor="fire-brigade")
    act(urgent, Action.VERIFY, 4, 10, 5, actor="sup")
    act(signed_late, Action.ACCEPT, 5, 10, 30, actor="fire-brigade")  # 15 minutes late: fix due 12:30
    act(signed_late, Action.RESOLVE, 5, 10, 31, actor="fire-brigade")
    act(signed_late, Action.REJECT_RESOLUTION, 5, 10, 40, actor="sup")  # a failed check, against the unit
    act(signed_late, Action.RESOLVE, 5, 10, 45, actor="fire-brigade")
    act(signed_late, Action.VERIFY, 5, 10, 50, actor="sup")
    close(on_time, 3, 10)
    for case in suspended:  # approved until 17:30 on 10 Aug (5 working days), never resumed
        act(case, Action.SUSPEND, 3, 9, 30, note="court ruling pending", length="5d")
        act(case, Action.APPROVE, 3, 9, 35, actor="sup")
    act(later, Action.REFUSE, 10, 9, 0, note="not a matter for the grid", actor="sup")
    act(noise, Action.FILE, 4, 9, 10, actor="sup")
    act(noise, Action.ACCEPT, 4, 9, 20)  # the grid takes it on: 8 working hours, due 09:50 on 5 Aug
    transition(
        demo_city,
        uuid.UUID(noise_again),
        Action.MERGE,
        "sup",
        "same noise",
        at(2026, 8, 4, 9, 40),
        RULES,
        into=uuid.UUID(noise),
    )
    act(bogus, Action.VOID, 4, 10, 5, note="no such address", actor="sup")
    act(noise, Action.RESOLVE, 4, 15, 0)
    act(noise, Action.VERIFY, 4, 15, 10, actor="sup")

    with TestClient(create_app(settings), headers=ENGLISH) as client:
        client.headers.update(sign_in("commander", Role.COMMANDER, ""))
        week = {"from": "2026-08-03", "to": "2026-08-09"}
        first = client.get("/v1/indicators", params={"area": grid_a, **week}).json()
        second = client.get("/v1/indicators", params={"area": grid_b, **week}).json()
        # The duplicate's reporter follows the case it joined.
        reporter = sign_in("gw-test", Role.DISTRICT, "321111")  # as the other tests sign this user in
        merged = client.get(f"/v1/events/{noise_again}", headers=reporter).json()
        assert (merged["case_state"], merged["merged_into"], merged["merged_into_state"]) == ("merged", noise, "closed")
    # Received 8: normal, extended, later (refused), 2 urgent, noise, its duplicate (merged), bogus (voided).
    assert (first["received"], first["filed"], first["due"], first["closed_on_time"]) == (8, 5, 5, 5)
    # ``later`` was refused on 10 Aug, after the week: as of the week's end it was still waiting.
    assert first["not_filed"] == {"refused": 0, "voided": 1, "merged": 1}
    assert first["on_time_closure_rate"] == 1.0  # was 2.0: both 0102 cases on time, one of them extended
    assert first["extension_rate"] == 0.2
    assert first["urgent"] == {"due": 2, "closed_on_time": 2, "on_time_closure_rate": 1.0}
    # The fire brigade signed one of its two cases in time, and failed one of three checks.
    assert first["units"] == [
        {
            "unit": "消防救援大队",
            "dispatched": 2,
            "signed_on_time": 1,
            "sign_in_on_time_rate": 0.5,
            "checks": 3,
            "rework_rate": round(1 / 3, 4),
        }
    ]
    assert (second["received"], second["due"], second["closed_on_time"]) == (3, 1, 1)
    assert second["on_time_closure_rate"] == 1.0  # was 1 ÷ (1 − 2) = −1.0
    assert second["closure_rate"] == 1.0


@pytest.fixture
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        client.headers.update(sign_in("sup-1", Role.DISTRICT, "321111"))
        yield client


def test_transitions_over_http_with_409_listing_what_is_allowed(client: TestClient, demo_city: Engine) -> None:
    case = record(demo_city, "incident", "8602", at(2026, 11, 20, 9, 0), 30)
    response = client.post(f"/v1/cases/{case}/transitions", json={"action": "verify"})
    assert response.status_code == 409
    assert response.json()["detail"]["allowed"] == ["dispatch", "file", "merge", "refuse", "void"]
    assert client.post(f"/v1/cases/{case}/transitions", json={"action": "refuse"}).status_code == 422  # no reason
    for action in ("file", "accept", "escalate", "resolve", "reject_resolution", "resolve", "verify"):
        if action == "resolve":  # a request without its length is refused, and nothing changes
            asked = client.post(f"/v1/cases/{case}/transitions", json={"action": "suspend", "note": "waiting"})
            assert asked.status_code == 422 and "length" in asked.json()["message"]
        response = client.post(f"/v1/cases/{case}/transitions", json={"action": action, "note": "n"})
        assert response.status_code == 200, response.text
    body = client.get(f"/v1/cases/{case}").json()
    assert body["state"] == "closed" and body["reworks"] == 1 and body["level"] == "community"
    assert [h["action"] for h in body["history"]] == [
        "file",
        "accept",
        "escalate",
        "resolve",
        "reject_resolution",
        "resolve",
        "verify",
    ]
    assert [h["seq"] for h in body["history"]] == list(range(1, 8))
    assert {h["actor"] for h in body["history"]} == {"sup-1"}  # the token's user, not anything in the body
    assert client.get(f"/v1/cases/{uuid.uuid4()}").status_code == 404
    listed = client.get("/v1/cases", params={"area": body["grid_code"][:12], "state": "closed", "category": "8602"})
    assert case in [c["id"] for c in listed.json()["cases"]]


def test_the_outbox_produces_each_transition_exactly_once_across_a_leader_crash(
    settings: Settings, demo_city: Engine
) -> None:
    kafka = settings.kafka.model_copy(update={"topic_prefix": f"o{uuid.uuid4().hex[:6]}."})
    from streams.kafka import admin_client
    from streams.topics import ensure_topics

    admin = admin_client(kafka)
    ensure_topics(admin, kafka)
    admin.close()
    opened = at(2026, 11, 10, 9, 0)
    cases = [record(demo_city, "incident", "8301", opened, 60 + i) for i in range(5)]
    start_all_clocks(demo_city)  # intake: straight to the unit
    with demo_city.begin() as conn:  # earlier rows (and the intakes) belong to other topics
        conn.execute(
            text(
                "UPDATE case_transition SET published = true, escalation_published ="
                " CASE WHEN escalation_published IS NULL THEN NULL ELSE true END"
            )
        )
    with demo_city.begin() as conn:  # taken on by the grid instead: its fix clock climbs
        conn.execute(
            text(
                "UPDATE \"case\" SET state = 'in_progress', level = 'grid', deadline = :due"
                " WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"due": opened + timedelta(minutes=15), "ids": cases},
        )
    escalate_all(demo_city, opened + timedelta(hours=5))  # 3 escalations + overdue each
    producer = EventProducer(kafka)
    first = Outbox(demo_city, kafka, producer, batch=7)
    second = Outbox(demo_city, kafka, producer, batch=7)
    assert first.publish() == 7
    assert second.publish() == 0  # not the leader
    with demo_city.connect() as conn:
        pending = conn.execute(text("SELECT count(*) FROM case_transition WHERE NOT published")).scalar_one()
    # The leader produces its next batch and dies before flagging it; its session ends with it.
    _produce_without_flagging(first)
    first.close()
    while second.publish():
        pass
    topics = Topics.from_prefix(kafka.topic_prefix)
    escalations = _read_all(kafka, topics.escalations, 20)
    transitions = _read_all(kafka, topics.transitions, 20)
    assert pending == 20 - 7
    assert sorted(escalations) == sorted(set(escalations)) and len(escalations) == 20
    assert sorted(transitions) == sorted(set(transitions)) and len(transitions) == 20
    producer.close()
    second.close()


def _produce_without_flagging(outbox: Outbox) -> None:
    from sqlalchemy import text as sql

    from streams.outbox import transition_message
    from streams.producer import Message

    with outbox.engine.connect() as conn:
        rows = conn.execute(
            sql(
                'SELECT t.*, c.grid_code, c.category FROM case_transition t JOIN "case" c ON c.id = t.case_id'
                " WHERE NOT t.published ORDER BY t.id LIMIT 7"
            )
        ).all()
    records = []
    for row in rows:
        value = json.dumps(transition_message(row)).encode()
        records.append(Message(outbox.topics.transitions, str(row.case_id).encode(), value))
        records.append(Message(outbox.topics.escalations, str(row.case_id).encode(), value))
    outbox.producer.publish(records)


def _read_all(kafka: object, topic: str, expected: int) -> list[int]:
    """Every transition id on ``topic``, read without a group from the start.

    Reads until ``expected`` ids have come (or 20 s), then a second more, so that a duplicate would show:
    a record acknowledged by the broker may reach readers a moment later.
    """
    from kafka import TopicPartition

    reader = consumer(kafka, None)  # type: ignore[arg-type]
    partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
    reader.assign(partitions)
    reader.seek_to_beginning(*partitions)
    ids: list[int] = []
    deadline = time.monotonic() + 20
    extra: float | None = None
    while time.monotonic() < (extra or deadline):
        for records in reader.poll(timeout_ms=200).values():
            ids += [json.loads(r.value)["transition_id"] for r in records]
        if extra is None and len(ids) >= expected:
            extra = time.monotonic() + 1
    reader.close()
    return ids


def test_over_http_a_gridworker_asks_and_the_level_above_decides(
    settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    grid = grid_point(demo_city, 31)[0]
    case = record(demo_city, "incident", "0102", datetime.now(TZ), 31)  # handled on the spot by gw-test
    start_all_clocks(demo_city)
    worker = sign_in("gw-ask", Role.GRIDWORKER, grid)
    community = sign_in("community-decides", Role.COMMUNITY, grid[:12])
    with TestClient(create_app(settings), headers=ENGLISH) as client:

        def post(headers: dict[str, str], **body: str) -> Any:
            return client.post(f"/v1/cases/{case}/transitions", json=body, headers=headers)

        asked = post(worker, action="suspend", note="业主外出，无法入户", length="2d")
        assert asked.status_code == 200 and asked.json()["request_kind"] == "suspension"
        assert asked.json()["paused_at"] is None  # asking stops no clock
        assert post(worker, action="approve").status_code == 403  # a gridworker decides nothing
        not_theirs = post(community, action="approve")  # the shipped rules leave suspensions to the district
        assert not_theirs.status_code == 403 and "decided by the district" in not_theirs.json()["message"]
        district = sign_in("district-decides", Role.DISTRICT, grid[:6])
        decided = post(district, action="approve")
        assert decided.status_code == 200 and decided.json()["paused_at"] is not None
        assert [h["action"] for h in decided.json()["history"]][-2:] == ["suspend", "approve"]
        assert post(worker, action="resume").status_code == 403
        resumed = post(district, action="resume")
        assert resumed.status_code == 200 and resumed.json()["paused_at"] is None
        fraction = post(community, action="extend", note="等配件", length="1.5d")  # working days are whole
        assert fraction.status_code == 422 and fraction.json()["detail"][0]["field"] == "length"
        own = post(community, action="extend", note="等配件", length="4h")
        assert own.status_code == 200
        refused = post(community, action="approve")  # the community asked: it may not decide
        assert refused.status_code == 409 and "your own extension request" in refused.json()["message"]
        street = sign_in("street-decides", Role.STREET, grid[:9])
        assert post(street, action="refuse_request", note="不予延期").status_code == 200


def test_urgent_and_owned_categories_reach_the_units_inbox_at_once(
    settings: Settings, demo_city: Engine, sign_in: SignIn
) -> None:
    owned = record(demo_city, "incident", "8403", datetime.now(TZ), 32)  # 劳资纠纷: 人社局's own
    urgent = record(demo_city, "incident", "8302", datetime.now(TZ), 32)  # e-bike charging: the fire brigade
    start_all_clocks(demo_city)
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        for case, unit in ((owned, "区人力资源和社会保障局"), (urgent, "消防救援大队")):
            inbox = client.get(
                "/v1/cases", params={"state": "dispatched"}, headers=sign_in(f"unit-{unit}", Role.DEPARTMENT, unit)
            ).json()["cases"]
            assert case in {c["id"] for c in inbox}, unit
            (row,) = [c for c in inbox if c["id"] == case]
            assert row["level"] == "department" and row["deadline"] is not None  # the sign-in deadline
    for case in (owned, urgent):  # nothing left open for later tests' clocks
        for action in (Action.ACCEPT, Action.RESOLVE, Action.VERIFY):
            transition(demo_city, uuid.UUID(case), action, "sup", "n", datetime.now(TZ), RULES)
