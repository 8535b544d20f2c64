"""The clock's jobs on stored cases: intake, breaches, ended suspensions, changed rules, unpatrolled grids.

Each case is handled in a savepoint of its own: a case that fails is logged with its id and
the error, written to ``clock_skip`` and left alone until it changes (its ``version`` moves
on), while the rest of the batch goes on. Every job is idempotent against what is recorded:
a breach is recorded once per missed deadline, and a deadline moved by changed rules does
not record again a breach that was already recorded (a breach is a fact about the past).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import InterfaceError, OperationalError

from cases.loop import Action, State, apply, breach_action, breached, stage_deadline
from cases.rules import Rules
from cases.store import CLOCK, case_from_row, loop_cases, store_transition, take_in
from db.rules_tables import rules_version
from db.tables import case as case_table
from db.tables import case_transition, clock_skip

log = logging.getLogger(__name__)


def _clock_cases() -> Any:
    """The loop's columns of cases (and their version), without those skipped since their last change."""
    c = case_table.c
    skipped = exists().where(clock_skip.c.case_id == c.id, clock_skip.c.version == c.version)
    return loop_cases().add_columns(c.version).where(~skipped)


def _each(conn: Connection, rows: Sequence[Any], job: str, now: datetime, step: Callable[[Any], int]) -> int:
    """Run ``step`` on each row in a savepoint of its own; a failing case is skipped and noted. Returns the sum.

    A passing trouble of the database (a deadlock, a lost connection) is no fault of the case: it
    fails the job, and the next tick tries the whole batch again.
    """
    done = 0
    for row in rows:
        try:
            with conn.begin_nested():
                done += step(row)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:  # noqa: BLE001 - one bad case must not stop the others
            error = f"{type(exc).__name__}: {exc}"[:2000]
            log.error("clock: %s skipped case %s until it changes: %s", job, row.id, error)
            values = {"case_id": row.id, "version": row.version, "job": job, "error": error, "at": now}
            conn.execute(
                insert(clock_skip).values(values).on_conflict_do_update(index_elements=["case_id"], set_=values)
            )
    return done


def skipped_cases(conn: Connection) -> list[Any]:
    """The open cases a clock job skipped and that have not changed since: id, job, error, when."""
    c, s = case_table.c, clock_skip.c
    return list(
        conn.execute(
            select(s.case_id, s.job, s.error, s.at)
            .join(case_table, c.id == s.case_id)
            .where(c.version == s.version, c.closed_at.is_(None))
            .order_by(s.at)
        ).all()
    )


def start_clocks(engine: Engine, rules: Rules, limit: int = 1000) -> int:
    """Take new reports in (``take_in``), oldest first, counted from when they were received."""
    with engine.begin() as conn:
        c = case_table.c
        rows = conn.execute(
            _clock_cases()
            .where(c.deadline.is_(None), c.closed_at.is_(None), c.state == State.REPORTED.value)
            .order_by(c.opened_at)
            .limit(limit)
            .with_for_update(of=case_table, skip_locked=True)
        ).all()

        def step(row: Any) -> int:
            take_in(conn, row, rules)
            return 1

        return _each(conn, rows, "intake", datetime.now().astimezone(), step)


def escalate_breaches(engine: Engine, rules: Rules, now: datetime, limit: int = 200) -> int:
    """Act on every open case past its deadline, each missed deadline recorded once.

    A missed fix deadline escalates one level (one per missed deadline); a missed intake,
    sign-in or verification deadline, or a fix deadline at the top, flags the case overdue
    in that stage and tells the escalations topic. Rows are locked with SKIP LOCKED, so
    engines running side by side never take the same case; a unique index on (case,
    level reached) backs that up.
    """
    with engine.begin() as conn:
        c = case_table.c
        rows = conn.execute(
            _clock_cases()
            .where(c.closed_at.is_(None), c.paused_at.is_(None), ~c.overdue, c.deadline <= now)
            .order_by(c.deadline)
            .limit(limit)
            .with_for_update(of=case_table, skip_locked=True)
        ).all()

        def step(row: Any) -> int:
            moved = 0
            case = case_from_row(row, rules)
            while breached(case, now):
                assert case.deadline is not None
                action = breach_action(case, rules)
                after = apply(case, Action.AUTO_ESCALATE, now, rules)
                # the history says what (the action) and when (the missed deadline): no note in any language
                store_transition(conn, row.id, case, after, action, CLOCK, "", case.deadline, rules)
                case = after
                moved += 1
            return moved

        return _each(conn, rows, "breaches", now, step)


def end_suspensions(engine: Engine, rules: Rules, now: datetime, limit: int = 200) -> int:
    """Resume every suspended case whose approved suspension has run out; the deadline moves by its length."""
    with engine.begin() as conn:
        c = case_table.c
        rows = conn.execute(
            _clock_cases()
            .where(c.paused_at.is_not(None), c.paused_until <= now, c.closed_at.is_(None))
            .limit(limit)
            .with_for_update(of=case_table, skip_locked=True)
        ).all()

        def step(row: Any) -> int:
            before = case_from_row(row, rules)
            after = apply(before, Action.AUTO_RESUME, row.paused_until, rules)
            note = "the approved suspension ended"
            store_transition(
                conn, row.id, before, after, Action.AUTO_RESUME.value, CLOCK, note, row.paused_until, rules
            )
            return 1

        return _each(conn, rows, "suspensions", now, step)


def flag_patrols(engine: Engine, rules: Rules, now: datetime) -> int:
    """Flag grids with no patrol check-in before the cut-off, for today (once past it) and yesterday."""
    tz = rules.calendar.tz
    local = now.astimezone(tz)
    days = [local.date() - timedelta(days=1)]
    if local.time() >= rules.patrol_cutoff:
        days.append(local.date())
    flagged = 0
    with engine.begin() as conn:
        for day in days:
            start = datetime.combine(day, datetime.min.time(), tz)
            cutoff = datetime.combine(day, rules.patrol_cutoff, tz)
            flagged += conn.execute(
                text(
                    "INSERT INTO patrol_breach (grid_code, day, flagged_at)"
                    " SELECT a.code, :day, :now FROM active_area a"
                    " WHERE a.level = 'grid' AND NOT EXISTS (SELECT 1 FROM event e"
                    " WHERE e.kind = 'patrol' AND e.grid_code = a.code AND e.occurred_at >= :start"
                    " AND e.occurred_at < :cutoff) ON CONFLICT DO NOTHING"
                ),
                {"day": day, "now": now, "start": start, "cutoff": cutoff},
            ).rowcount
    return flagged


def recompute_deadlines(engine: Engine, rules: Rules, now: datetime) -> int:
    """After the rules or the working calendar changed, give open cases the deadlines the new ones set.

    Each stage's deadline is computed again from the moment the case entered it (the last change
    of state or level, else its report). A changed deadline is recorded as a transition
    (``deadline_recomputed``, old and new in the note). Cases with an approved extension keep
    the deadline their approver set, and suspended ones keep theirs until they resume. A breach
    already recorded stays recorded: the case keeps its overdue flag, so the clock does not
    record the same stage's breach again when the moved deadline passes. The first run on a
    database only records the fingerprint. Returns how many deadlines changed.
    """
    changed = 0
    with engine.begin() as conn:
        stored = conn.execute(
            select(rules_version.c.fingerprint).where(rules_version.c.id == 1).with_for_update()
        ).scalar_one_or_none()
        if stored == rules.fingerprint:
            return 0
        if stored is not None:
            c = case_table.c
            entered = (
                select(func.max(case_transition.c.at))
                .where(
                    case_transition.c.case_id == c.id,
                    (case_transition.c.from_state != case_transition.c.to_state)
                    | (case_transition.c.from_level != case_transition.c.to_level),
                )
                .scalar_subquery()
            )
            rows = conn.execute(
                _clock_cases()
                .add_columns(func.coalesce(entered, c.opened_at).label("entered"))
                .where(c.closed_at.is_(None), c.paused_at.is_(None), c.deadline.is_not(None), c.extensions == 0)
                .with_for_update(of=case_table)
            ).all()

            def step(row: Any) -> int:
                before = case_from_row(row, rules)
                deadline = stage_deadline(before, before.state, row.entered, rules)
                if deadline == before.deadline:
                    return 0
                assert before.deadline is not None
                tz = rules.calendar.tz
                old, new = (d.astimezone(tz).isoformat() for d in (before.deadline, deadline))
                note = f"rules or calendar changed: {old} → {new}"
                after = replace(before, deadline=deadline)  # an overdue flag stays: the breach is recorded
                store_transition(conn, row.id, before, after, "deadline_recomputed", CLOCK, note, now, rules)
                return 1

            changed = _each(conn, rows, "recompute", now, step)
        conn.execute(
            insert(rules_version)
            .values(id=1, fingerprint=rules.fingerprint, applied_at=now)
            .on_conflict_do_update(index_elements=["id"], set_={"fingerprint": rules.fingerprint, "applied_at": now})
        )
    return changed
