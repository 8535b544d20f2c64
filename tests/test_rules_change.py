"""A changed calendar recomputes the deadlines of open cases, each change a transition in the history."""

import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from cases.clock import recompute_deadlines, start_clocks
from cases.rules import RULES_FILE, load_rules
from geo.demo import load_demo
from tests.test_sla_db import record

TZ = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def _deadline_and_history(engine: Engine, case: str) -> tuple[datetime, list[tuple[str, str]]]:
    with engine.connect() as conn:
        deadline = conn.execute(text('SELECT deadline FROM "case" WHERE id = :id'), {"id": case}).scalar_one()
        history = conn.execute(
            text("SELECT action, note FROM case_transition WHERE case_id = :id ORDER BY seq"), {"id": case}
        ).all()
    return deadline, [(a, n) for a, n in history]


def test_a_corrected_calendar_moves_open_deadlines_and_says_so(scratch_engine: Engine, tmp_path: Path) -> None:
    load_demo(scratch_engine)
    before = load_rules()
    waiting = record(scratch_engine, "incident", "8602", at(2026, 12, 31, 9, 0))  # intake due 11:00 that day
    spot = record(scratch_engine, "incident", "0102", at(2026, 12, 31, 16, 0))  # handled on the spot
    start_clocks(scratch_engine, before)
    # 4 working hours: 1.5 on 31 Dec; 1 Jan 2027 (元旦) and the weekend off; 2.5 on Mon 4 Jan → 11:00.
    assert _deadline_and_history(scratch_engine, spot)[0] == at(2027, 1, 4, 11, 0)
    assert recompute_deadlines(scratch_engine, before, at(2026, 12, 31, 16, 5)) == 0  # the first run only records

    schedule = tmp_path / "workdays.yaml"  # a (made-up) official schedule making 1 Jan 2027 a working day
    schedule.write_text("2027:\n  workdays: [2027-01-01]\n")
    after = load_rules(RULES_FILE, schedule)
    assert after.fingerprint != before.fingerprint
    assert recompute_deadlines(scratch_engine, after, at(2026, 12, 31, 16, 10)) == 1
    deadline, history = _deadline_and_history(scratch_engine, spot)
    assert deadline == at(2027, 1, 1, 11, 0)  # 1.5 h on 31 Dec, 2.5 h on 1 Jan
    assert history[-1][0] == "deadline_recomputed"
    assert "2027-01-04T11:00:00+08:00 → 2027-01-01T11:00:00+08:00" in history[-1][1]
    assert _deadline_and_history(scratch_engine, waiting) == (at(2026, 12, 31, 11, 0), [])  # unchanged: no entry
    assert recompute_deadlines(scratch_engine, after, at(2026, 12, 31, 16, 15)) == 0
    assert uuid.UUID(spot)
