"""The SLA clock never stalls: a changed deadline of an overdue case, a case that cannot be handled, a loud clock."""

import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from kafka import TopicPartition
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import Settings
from cases.clock import escalate_breaches, recompute_deadlines, skipped_cases, start_clocks
from cases.loop import Action
from cases.rules import RULES_FILE, Level, Rules, load_rules
from cases.store import transition
from cli.local.scratch import fresh_topics
from db.engine import make_engine
from geo.demo import load_demo
from streams import sla
from streams.kafka import consumer
from streams.outbox import Outbox
from streams.producer import EventProducer
from streams.sla import SlaEngine
from streams.topics import Topics
from tests.pipeline_fixtures import worker_env
from tests.test_sla_db import record

TZ = ZoneInfo("Asia/Shanghai")
DEMO = load_rules()
MINOR = "deadlines: {grid: 4h, community: 8h, street: 16h, department: 24h}"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def longer_department_limit(tmp_path: Path) -> Rules:
    """The demo rules with the minor class's department limit lengthened from 24 to 32 working hours."""
    source = RULES_FILE.read_text(encoding="utf-8")
    assert MINOR in source
    changed = tmp_path / "rules.yaml"
    changed.write_text(source.replace(MINOR, MINOR.replace("department: 24h", "department: 32h")), encoding="utf-8")
    return load_rules(changed)


@pytest.fixture
def city(scratch_settings: Settings, kafka_settings: object) -> Iterator[tuple[Settings, Engine]]:
    """The demo city in a database of its own, with topics of its own."""
    settings = fresh_topics(scratch_settings, "clk")
    engine = make_engine(settings.database.url)
    load_demo(engine)
    yield settings, engine
    engine.dispose()


def actions(engine: Engine, case: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT action FROM case_transition WHERE case_id = :id ORDER BY seq"), {"id": case}
            ).scalars()
        )


def published_ids(settings: Settings) -> list[int]:
    """Every transition id on the transitions topic."""
    return [int(str(m["transition_id"])) for m in published(settings)]


def overdue_at_the_top(engine: Engine) -> tuple[str, list[datetime]]:
    """A minor case (暴露垃圾) nobody acts on, flagged overdue at department level; its deadline at each level."""
    opened = at(2026, 11, 19, 9, 0)  # Thursday
    case = record(engine, "incident", "0102", opened)
    start_clocks(engine, DEMO)
    dues = [opened]
    for level in Level:
        dues.append(DEMO.deadline("0102", level, dues[-1]))
    while escalate_breaches(engine, DEMO, dues[-1] + timedelta(minutes=1)):
        pass
    assert actions(engine, case) == ["auto_intake", "auto_escalate", "auto_escalate", "auto_escalate", "overdue"]
    return case, dues[1:]


def test_a_longer_deadline_for_an_overdue_case_stops_neither_the_other_breaches_nor_the_outbox(
    city: tuple[Settings, Engine], tmp_path: Path
) -> None:
    """The fault run's reproduction: flagged overdue at the top, its deadline moved by new rules, then passed.

    Before the fix, the recompute cleared the flag, the clock tried to record a second
    ``overdue`` when the moved deadline passed, the unique index refused it, and the whole
    batch (40 urgent sign-in breaches here) rolled back; the tick raised before the outbox.
    """
    settings, engine = city
    case, (*_, street_due, department_due) = overdue_at_the_top(engine)
    changed = longer_department_limit(tmp_path)
    assert recompute_deadlines(engine, DEMO, department_due + timedelta(minutes=2)) == 0  # records the fingerprint
    assert recompute_deadlines(engine, changed, department_due + timedelta(minutes=5)) == 1
    moved = changed.deadline("0102", Level.DEPARTMENT, street_due)  # its department clock started there
    with engine.connect() as conn:
        deadline, overdue = conn.execute(
            text('SELECT deadline, overdue FROM "case" WHERE id = :id'), {"id": case}
        ).one()
    assert moved > department_due + timedelta(minutes=5)
    assert (deadline, overdue) == (moved, True)  # the breach stays recorded
    # 40 urgent fire-lane reports, sent straight to the fire brigade, their sign-in missed with the moved deadline.
    urgent = [record(engine, "incident", "8301", moved - timedelta(minutes=30), i) for i in range(40)]
    start_clocks(engine, changed)
    producer = EventProducer(settings.kafka)
    later = moved + timedelta(hours=1)
    clock = SlaEngine(engine, changed, Outbox(engine, settings.kafka, producer), clock=lambda: later)
    try:
        result = clock.tick()
        clock.report(result)
    finally:
        clock.outbox.close()
        producer.close()
    assert result.failed == {}
    assert result.done["escalated"] == 40
    assert actions(engine, case) == [
        "auto_intake",
        "auto_escalate",
        "auto_escalate",
        "auto_escalate",
        "overdue",
        "deadline_recomputed",
    ]
    assert all(actions(engine, u) == ["auto_intake", "sign_in_overdue"] for u in urgent)
    with engine.connect() as conn:
        recorded = sorted(conn.execute(text("SELECT id FROM case_transition")).scalars())
    assert sorted(published_ids(settings)) == recorded  # everything reached Kafka, once


def test_a_case_that_cannot_be_handled_is_skipped_shown_and_tried_again_once_it_changes(
    city: tuple[Settings, Engine],
) -> None:
    settings, engine = city
    opened = at(2026, 11, 23, 9, 0)  # Monday
    cases = [record(engine, "incident", "8301", opened, i) for i in range(5)]
    start_clocks(engine, DEMO)
    broken = cases[2]
    with engine.begin() as conn:  # its category is gone from the rules (a city removed it)
        gone = "UPDATE \"case\" SET category = 'X999', version = version + 1 WHERE id = :id"
        conn.execute(text(gone), {"id": broken})
    producer = EventProducer(settings.kafka)
    clock = SlaEngine(engine, DEMO, Outbox(engine, settings.kafka, producer), clock=lambda: opened + timedelta(hours=1))
    try:
        result = clock.tick()
        clock.report(result)
        assert result.failed == {}
        assert result.done["escalated"] == 4  # every other case
        assert [actions(engine, c)[-1] for c in cases] == ["sign_in_overdue"] * 2 + ["auto_intake"] + [
            "sign_in_overdue"
        ] * 2
        with engine.connect() as conn:
            skipped = skipped_cases(conn)
        assert [(str(s.case_id), s.job) for s in skipped] == [(broken, "breaches")]
        assert "X999" in skipped[0].error
        assert clock.tick().done["escalated"] == 0  # skipped until it changes: no error every tick
        with TestClient(create_app(settings)) as client:
            health = client.get("/health").json()
            metrics = client.get("/metrics").text
        assert health["clock"]["status"] == "failing", health["clock"]
        assert health["clock"]["skipped"] == 1
        assert health["status"] == "degraded"
        assert "gridgov_clock_skipped_cases 1.0" in metrics
        assert "gridgov_outbox_waiting 0.0" in metrics  # the outbox went on

        with engine.begin() as conn:  # mended: the case changes, and the clock takes it again
            conn.execute(
                text("UPDATE \"case\" SET category = '8301', version = version + 1 WHERE id = :id"), {"id": broken}
            )
        result = clock.tick()
        clock.report(result)
        assert result.done["escalated"] == 1
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").json()["clock"]["status"] == "ok"
    finally:
        clock.outbox.close()
        producer.close()


def test_a_failing_job_is_reported_and_the_outbox_still_publishes(
    city: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine = city
    opened = at(2026, 11, 23, 9, 0)
    case = record(engine, "incident", "8301", opened)
    producer = EventProducer(settings.kafka)
    clock = SlaEngine(engine, DEMO, Outbox(engine, settings.kafka, producer), clock=lambda: opened + timedelta(hours=1))

    def broken_patrols() -> int:
        raise RuntimeError("patrol table gone")

    monkeypatch.setattr(sla, "flag_patrols", lambda *_: broken_patrols())
    try:
        start_clocks(engine, DEMO)
        result = clock.tick()
        clock.report(result)
    finally:
        clock.outbox.close()
        producer.close()
    assert result.failed == {"patrol_flags": "RuntimeError: patrol table gone"}
    assert result.done["published"] == 2  # intake and the missed sign-in
    assert actions(engine, case) == ["auto_intake", "sign_in_overdue"]
    with TestClient(create_app(settings)) as client:
        clock_health = client.get("/health").json()["clock"]
    assert clock_health["status"] == "degraded"
    assert "patrol_flags: RuntimeError: patrol table gone" in clock_health["detail"]
    assert clock_health["failures"] == 1


CLIMB_RULES = Path(__file__).parent / "data" / "rules_climb.yaml"
CLIMB = ["auto_escalate:community", "auto_escalate:street", "auto_escalate:department", "overdue:department"]


def histories(engine: Engine, cases: list[str]) -> dict[str, list[str]]:
    """Each case's transitions as ``action:to_level``, in order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT case_id, action, to_level FROM case_transition WHERE case_id = ANY(CAST(:ids AS uuid[]))"
                " ORDER BY case_id, seq"
            ),
            {"ids": cases},
        ).all()
    found: dict[str, list[str]] = {c: [] for c in cases}
    for case_id, action, level in rows:
        found[str(case_id)].append(f"{action}:{level}")
    return found


def published(settings: Settings) -> list[dict[str, object]]:
    """Every message on the transitions topic, in the topic's order per partition."""
    topic = Topics.from_prefix(settings.kafka.topic_prefix).transitions
    reader = consumer(settings.kafka, None, client_id="clock-test")  # type: ignore[arg-type]
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        ends = reader.end_offsets(partitions)
        messages: list[dict[str, object]] = []
        while any(reader.position(tp) < ends[tp] for tp in partitions):
            for records in reader.poll(timeout_ms=500).values():
                messages += [json.loads(r.value) for r in records]
        return messages
    finally:
        reader.close()


def assert_published_once_in_order(settings: Settings, engine: Engine) -> None:
    """Every recorded transition is on the topic exactly once, each case's in the order of its history."""
    messages = published(settings)
    with engine.connect() as conn:
        recorded = sorted(conn.execute(text("SELECT id FROM case_transition")).scalars())
    ids = [int(str(m["transition_id"])) for m in messages]
    assert sorted(ids) == recorded
    seqs: dict[str, list[int]] = {}
    for m in messages:
        seqs.setdefault(str(m["case_id"]), []).append(int(str(m["seq"])))
    assert all(s == sorted(s) for s in seqs.values())


def start_clock(settings: Settings) -> subprocess.Popen[bytes]:
    env = worker_env(settings) | {"GRIDGOV_SLA_RULES_FILE": str(CLIMB_RULES), "GRIDGOV_SLA_TICK_S": "0.5"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "sla"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_the_clock_killed_five_times_while_held_cases_climb_reaches_every_level_once_and_publishes_all(
    city: tuple[Settings, Engine],
) -> None:
    settings, engine = city
    rules = load_rules(CLIMB_RULES)
    rng = random.Random(5)
    cases: list[str] = []
    clock = start_clock(settings)
    kills = 0
    next_kill = time.monotonic() + rng.uniform(3, 8)
    try:
        for i in range(30):  # taken in and held at the grid, one every 0.7 s, while the clock is killed
            case = record(engine, "incident", "8602", datetime.now(TZ), i)
            transition(engine, uuid.UUID(case), Action.FILE, "community-1", "", datetime.now(TZ), rules)
            transition(engine, uuid.UUID(case), Action.ACCEPT, "gw-1", "", datetime.now(TZ), rules)
            cases.append(case)
            time.sleep(0.7)
            if kills < 5 and time.monotonic() >= next_kill:
                clock.kill()  # SIGKILL: mid-tick, no cleanup
                clock.wait()
                kills += 1
                clock = start_clock(settings)
                next_kill = time.monotonic() + rng.uniform(3, 8)
        while kills < 5:
            time.sleep(max(0.0, next_kill - time.monotonic()))
            clock.kill()
            clock.wait()
            kills += 1
            clock = start_clock(settings)
            next_kill = time.monotonic() + rng.uniform(3, 8)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = histories(engine, cases)
            with engine.connect() as conn:
                waiting = conn.execute(
                    text("SELECT count(*) FROM case_transition WHERE NOT published OR NOT escalation_published")
                ).scalar_one()
            if all(h[-1] == "overdue:department" for h in found.values()) and not waiting:
                break
            time.sleep(0.5)
    finally:
        clock.send_signal(signal.SIGTERM)
        _, stderr = clock.communicate(timeout=60)
    assert clock.returncode == 0, stderr.decode()[-2000:]
    assert kills == 5
    found = histories(engine, cases)
    assert all(h == ["file:grid", "accept:grid", *CLIMB] for h in found.values()), found
    assert_published_once_in_order(settings, engine)


def test_rules_and_calendar_changes_with_cases_overdue_breached_and_suspended_at_every_level(
    city: tuple[Settings, Engine], tmp_path: Path
) -> None:
    """Ticks an hour apart over 26 days: new rules on day 9, a corrected calendar on day 16.

    Each change comes while cases are flagged overdue at the top (the change moves their
    deadlines past the clock's now), breached at lower levels and suspended.
    """
    settings, engine = city
    start = at(2026, 11, 16, 9, 0)  # Monday
    held = []  # general cases taken in and held at the grid, one every working hour of the first week
    minor = []  # handled on the spot, climbing
    suspended = []
    urgent = []
    for day in range(5):
        for hour in range(8):
            opened = start + timedelta(days=day, hours=hour)
            case = record(engine, "incident", "8602", opened, 2 * (day * 8 + hour))
            transition(engine, uuid.UUID(case), Action.FILE, "community-1", "", opened, DEMO)
            transition(engine, uuid.UUID(case), Action.ACCEPT, "gw-1", "", opened, DEMO)
            held.append(case)
            minor.append(record(engine, "incident", "0102", opened, 2 * (day * 8 + hour) + 1))
            urgent.append(record(engine, "incident", "8301", opened, day * 8 + hour + 100))
    start_clocks(engine, DEMO)
    for i in range(0, len(minor), 4):  # suspended for 2 working days half an hour after the report
        case, now = minor[i], start + timedelta(days=i // 8, hours=i % 8, minutes=30)
        transition(engine, uuid.UUID(case), Action.SUSPEND, "gw-1", "业主外出", now, DEMO, length="2d")
        transition(engine, uuid.UUID(case), Action.APPROVE, "district-1", "", now, DEMO)
        suspended.append(case)
    holiday = tmp_path / "workdays.yaml"  # a (made-up) correction on 2 Dec: 1 Dec was a day off
    holiday.write_text("2026:\n  holidays: [2026-12-01]\n")
    changed = longer_department_limit(tmp_path)
    calendar_too = load_rules(tmp_path / "rules.yaml", holiday)
    assert len({DEMO.fingerprint, changed.fingerprint, calendar_too.fingerprint}) == 3
    producer = EventProducer(settings.kafka)
    failed: list[dict[str, str]] = []
    try:
        for rules, days in ((DEMO, range(0, 9)), (changed, range(9, 16)), (calendar_too, range(16, 26))):
            now = [start]
            clock = SlaEngine(engine, rules, Outbox(engine, settings.kafka, producer), clock=lambda n=now: n[0])
            for hour in range(days.start * 24, days.stop * 24):
                now[0] = start + timedelta(hours=hour)
                result = clock.tick()
                clock.report(result)
                if result.failed:
                    failed.append(result.failed)
            clock.outbox.close()
            with TestClient(create_app(settings)) as client:
                assert client.get("/health").json()["clock"]["status"] != "failing"
    finally:
        producer.close()
    assert failed == []
    with engine.connect() as conn:
        assert skipped_cases(conn) == []
        changes = conn.execute(text("SELECT count(*) FROM case_transition WHERE action = 'deadline_recomputed'"))
        assert changes.scalar_one() > 0
    found = {
        case: [s for s in h if not s.startswith("deadline_recomputed")]
        for case, h in histories(engine, held + minor + urgent).items()
    }
    for case in held:
        assert found[case] == ["file:grid", "accept:grid", *CLIMB], found[case]
    for case in minor:
        steps = [s for s in found[case] if s not in ("suspend:grid", "approve:grid", "auto_resume:grid")]
        assert steps == ["auto_intake:grid", *CLIMB], found[case]
    for case in suspended:
        assert found[case][1:4] == ["suspend:grid", "approve:grid", "auto_resume:grid"], found[case]
    for case in urgent:
        assert found[case] == ["auto_intake:department", "sign_in_overdue:department"], found[case]
    assert_published_once_in_order(settings, engine)
