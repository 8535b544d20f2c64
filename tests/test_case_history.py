"""A case's history is partitioned by the month its case opened (migration 0030, db.partitions): its rows
copied in place, its keys as before, its months dropped by GRIDGOV_CASE_HISTORY_MONTHS only once ended."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from api.settings import Settings
from cases.rules import load_rules
from cases.settings import SlaSettings
from cases.store import loop_cases, take_in
from db.engine import alembic_config, upgrade
from db.partitions import keep_ahead, make_months, months, months_before, partitions
from db.tables import case as case_table
from streams.sla import prune_months
from tests.pipeline_fixtures import event_body, insert_case
from tests.registers_fixtures import write_event

TRANSITION = (
    "INSERT INTO case_transition (case_id, seq, action, actor, at, from_state, to_state, from_level, to_level{extra})"
    " VALUES (:case, :seq, 'file', 't', :at, 'reported', 'filed', 'grid', 'grid'{values}) RETURNING id"
)


def _case(conn: Connection, opened: datetime, state: str = "closed", *, head: bool = True) -> uuid.UUID:
    """A case opened at ``opened`` (at the head schema its report happened then too)."""
    return insert_case(conn, uuid.uuid4(), opened, state, opened if head else None)


def _transition(conn: Connection, case_id: uuid.UUID, seq: int, at: datetime, opened: datetime | None = None) -> int:
    extra = {"extra": ", case_opened_at", "values": ", :opened"} if opened else {"extra": "", "values": ""}
    return int(
        conn.execute(
            text(TRANSITION.format(**extra)), {"case": case_id, "seq": seq, "at": at, "opened": opened}
        ).scalar_one()
    )


def test_the_history_is_made_partitioned_in_place_with_its_rows(
    scratch_settings: Settings, scratch_engine: Engine
) -> None:
    """At schema 0029: a case opened 3 June 2025 (transitions in June and July), one of 9 January 2026, one now."""
    url = scratch_settings.database.url
    command.downgrade(alembic_config(url), "0029")
    june, january, now = datetime(2025, 6, 3, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC), datetime.now(UTC)
    with scratch_engine.begin() as conn:
        cases = {opened: _case(conn, opened, head=False) for opened in (june, january, now)}
        for opened, at in ((june, june), (june, datetime(2025, 7, 2, tzinfo=UTC)), (january, january), (now, now)):
            seq = (
                1
                + conn.execute(
                    text("SELECT count(*) FROM case_transition WHERE case_id = :c"), {"c": cases[opened]}
                ).scalar_one()
            )
            _transition(conn, cases[opened], seq, at)
        before = conn.execute(text("SELECT id, case_id, seq, at FROM case_transition ORDER BY id")).all()
    upgrade(url, "head")
    with scratch_engine.begin() as conn:
        after = conn.execute(text("SELECT id, case_id, seq, at FROM case_transition ORDER BY id")).all()
        placed = conn.execute(
            text(
                "SELECT t.seq, t.case_opened_at, CAST(t.tableoid AS regclass)::text FROM case_transition t"
                " WHERE t.case_id = :c ORDER BY t.seq"
            ),
            {"c": cases[june]},
        ).all()
        made = partitions(conn, "case_transition")
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'case_transition'")).scalar_one()
        new_id = _transition(conn, cases[january], 2, now, january)
    assert after == before and kind == "p"  # the same rows, in a partitioned table
    # Both of the June case's rows, the July one too, are in its case's month.
    assert placed == [(1, june, "case_transition_y2025m06"), (2, june, "case_transition_y2025m06")]
    assert min(made) == date(2025, 6, 1) and len(made) >= 19  # June 2025 to three months ahead of now
    assert new_id == max(row.id for row in before) + 1  # ids go on from the last
    with pytest.raises(IntegrityError, match=r"\(case_id, seq, case_opened_at\)"), scratch_engine.begin() as conn:
        _transition(conn, cases[june], 2, now, june)  # (case, seq) is still a key


def test_a_month_of_history_goes_only_once_every_case_of_it_has_ended(scratch_engine: Engine) -> None:
    """Months of 2020 made: January (a closed case, 2 rows; an open one, 1 row), February (a closed case, 3 rows).
    The default partition: a closed case of December 2019 (1 row) and an open one (1 row).

    Kept 12 months, on 15 April 2021 the cut-off is 1 April 2020: February goes (3 rows), and March (ended by
    then, no rows), with the default's closed December case (1 row); January stays while its open case is
    open, and goes (3 rows) once it ended.
    """
    with scratch_engine.begin() as conn:
        make_months(conn, "case_transition", months(date(2020, 1, 1), date(2020, 3, 1)))
        rows = {
            (datetime(2020, 1, 5, tzinfo=UTC), "closed"): 2,
            (datetime(2020, 1, 20, tzinfo=UTC), "in_progress"): 1,
            (datetime(2020, 2, 29, 23, tzinfo=UTC), "closed"): 3,
            (datetime(2019, 12, 3, tzinfo=UTC), "closed"): 1,
            (datetime(2019, 12, 9, tzinfo=UTC), "filed"): 1,
        }
        cases = {}
        for (opened, state), n in rows.items():
            cases[opened] = _case(conn, opened, state)
            for seq in range(1, n + 1):
                _transition(conn, cases[opened], seq, opened + timedelta(days=seq), opened)
    now = datetime(2021, 4, 15, tzinfo=UTC)
    assert months_before(now, 12) == datetime(2020, 4, 1, tzinfo=UTC)
    assert prune_months(scratch_engine, "case_transition", now, 0) == 0  # kept for good
    assert prune_months(scratch_engine, "case_transition", now, 12) == 4
    with scratch_engine.connect() as conn:
        kept = set(partitions(conn, "case_transition"))
        assert date(2020, 1, 1) in kept and not {date(2020, 2, 1), date(2020, 3, 1)} & kept  # March: ended, empty
        left = conn.execute(text("SELECT case_id, count(*) FROM case_transition GROUP BY case_id")).all()
    assert dict(left) == {cases[datetime(2020, 1, 5, tzinfo=UTC)]: 2, cases[datetime(2020, 1, 20, tzinfo=UTC)]: 1,
                          cases[datetime(2019, 12, 9, tzinfo=UTC)]: 1}  # fmt: skip
    with scratch_engine.begin() as conn:
        conn.execute(text("""UPDATE "case" SET state = 'closed' WHERE opened_at = '2020-01-20T00:00Z'"""))
    assert prune_months(scratch_engine, "case_transition", now, 12) == 3
    assert prune_months(scratch_engine, "case_transition", now, 12) == 0


def test_a_transition_is_kept_in_its_case_s_month(demo_city: Engine) -> None:
    """A report recorded as the worker records it, dated 29 days back, then taken in: its case's history is in that
    month's partition."""
    at = datetime.now(UTC) - timedelta(days=29)
    keep_ahead(demo_city, datetime.now(UTC))  # the clock's months: from last month's
    case_id = write_event(demo_city, event_body(119.43, 32.2, reporter="history-test"), at)
    with demo_city.begin() as conn:  # taken in as the clock takes it in: its first transition
        row = conn.execute(loop_cases().where(case_table.c.id == case_id).with_for_update()).one()
        take_in(conn, row, load_rules())
    try:
        with demo_city.connect() as conn:
            placed = conn.execute(
                text(
                    "SELECT t.case_opened_at, CAST(t.tableoid AS regclass)::text, c.opened_at FROM case_transition t"
                    ' JOIN "case" c ON c.id = t.case_id WHERE t.case_id = :c'
                ),
                {"c": case_id},
            ).all()
    finally:
        with demo_city.begin() as conn:  # gone again, so no other test's map, queue or count meets it
            for table in ("case_transition", "notice"):
                conn.execute(text(f"DELETE FROM {table} WHERE case_id = :c"), {"c": case_id})
            conn.execute(text('DELETE FROM "case" WHERE id = :c'), {"c": case_id})
            conn.execute(text("DELETE FROM event WHERE id = :c"), {"c": case_id})
    assert placed, "the report opened no case"
    assert all(row[0] == row[2] for row in placed)
    assert {row[1] for row in placed} == {f"case_transition_y{row[2].astimezone(UTC):%Ym%m}" for row in placed}


def test_a_history_kept_under_a_year_is_refused() -> None:
    with pytest.raises(ValidationError, match="0 .kept for good. or at least 12, not 6"):
        SlaSettings(case_history_months=6)
    assert SlaSettings(case_history_months=12).case_history_months == 12
    assert SlaSettings().case_history_months == 0
