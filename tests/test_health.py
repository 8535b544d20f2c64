"""``GET /health`` reports both services; the pipeline's figures it reads from PostgreSQL."""

import dataclasses
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import Settings
from streams.producer import Recent
from streams.watch import database_figures


def test_health_reports_both_services_up(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "up"
    assert body["broker"]["status"] == "up"


def test_health_is_503_when_the_broker_is_unreachable(settings: Settings) -> None:
    kafka = settings.kafka.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    broken = dataclasses.replace(settings, kafka=kafka)
    with TestClient(create_app(broken)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["broker"]["status"] == "down"
    assert response.json()["database"]["status"] == "up"


def test_an_up_broker_check_is_reused_for_a_second_and_a_down_one_never() -> None:
    now = [100.0]
    answers = iter([(True, "3 topics"), (False, "NoBrokersAvailable"), (True, "3 topics")])
    calls: list[float] = []

    def check() -> tuple[bool, str]:
        calls.append(now[0])
        return next(answers)

    status = Recent(check, ttl_s=1.0, clock=lambda: now[0])
    assert status() == (True, "3 topics")
    now[0] += 0.5
    assert status() == (True, "3 topics")  # reused
    now[0] += 0.75
    assert status() == (False, "NoBrokersAvailable")  # over a second: asked again
    assert status() == (True, "3 topics")  # down is asked again at once
    assert len(calls) == 3


def test_the_groups_progress_is_records_written_or_caught_up_by_any_member_and_dead_members_drop_out(
    engine: Engine,
) -> None:
    group = f"watch-{uuid.uuid4().hex[:6]}"
    rows = [  # member, started, seen, progress, caught up (seconds ago; None: never)
        ("killed", 100, 50, 60, 70),  # its last batch 60 s ago; gone for 50 s
        ("restarted", 3, 0.5, None, None),  # "not yet progressing": its start is no progress
        ("stopped", 40, 10, None, 45),  # caught up 45 s ago; gone for 10 s (> the 4 s session)
    ]
    with engine.begin() as conn:
        for member, started, seen, progress, caught_up in rows:
            conn.execute(
                text(
                    "INSERT INTO pipeline_member (member, group_id, partitions, state, started_at, seen_at,"
                    " progress_at, caught_up_at) VALUES (:m, :g, 0, 'rejoining', now() - make_interval(secs => :s),"
                    " now() - make_interval(secs => :seen), now() - make_interval(secs => :p),"
                    " now() - make_interval(secs => :c))"
                ),
                {"m": f"{group}-{member}", "g": group, "s": started, "seen": seen, "p": progress, "c": caught_up},
            )
        _, since, members = database_figures(conn, group, 4.0)
        assert since is not None and 45 <= since < 46  # the latest of 60 s (a batch) and 45 s (caught up)
        assert members == 1  # seen within the session timeout: the restarted one
        conn.execute(
            text("DELETE FROM pipeline_member WHERE group_id = :g AND member <> :m"),
            {"g": group, "m": f"{group}-restarted"},
        )
        _, since, _ = database_figures(conn, group, 4.0)
        assert since is not None and 3 <= since < 4  # none ever progressed: since the first start
        conn.execute(text("DELETE FROM pipeline_member WHERE group_id = :g"), {"g": group})
