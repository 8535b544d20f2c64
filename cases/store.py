"""Cases in PostgreSQL: read one for the loop, apply an action, store each transition in order."""

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from cases.errors import CaseNotFound
from cases.loop import Action, Case, State, apply
from cases.rules import Level, Rules
from db.tables import case as case_table

ESCALATIONS = {Action.ESCALATE.value, Action.AUTO_ESCALATE.value, "overdue"}
# What the loop reads of a case row.
LOOP_COLUMNS = [
    case_table.c[name]
    for name in (
        "id",
        "kind",
        "category",
        "state",
        "level",
        "deadline",
        "paused_at",
        "pause_kind",
        "reworks",
        "overdue",
        "opened_at",
        "assignee",
    )
]


def loop_cases() -> Any:
    """``SELECT`` of the loop's columns of cases, to be narrowed by the caller."""
    return select(*LOOP_COLUMNS)


def case_from_row(row: Any) -> Case:
    """The loop's view of a case row."""
    return Case(
        row.category,
        State(row.state),
        Level(row.level),
        row.deadline,
        row.paused_at,
        row.pause_kind,
        row.reworks,
        row.overdue,
    )


def store_transition(
    conn: Connection,
    case_id: uuid.UUID,
    before: Case,
    after: Case,
    action: str,
    actor: str,
    note: str,
    at: datetime,
    rules: Rules,
) -> None:
    """Store the transition and the case after it (the caller holds the case row lock)."""
    escalation = action in ESCALATIONS
    conn.execute(
        text(
            "INSERT INTO case_transition (case_id, seq, action, actor, note, at, from_state, to_state, from_level,"
            " to_level, deadline, escalation_published)"
            " SELECT :id, coalesce(max(seq), 0) + 1, :action, :actor, :note, :at, :fs, :ts, :fl, :tl, :deadline, :esc"
            " FROM case_transition WHERE case_id = :id"
        ),
        {
            "id": case_id,
            "action": action,
            "actor": actor,
            "note": note,
            "at": at,
            "fs": before.state.value,
            "ts": after.state.value,
            "fl": before.level.value,
            "tl": after.level.value,
            "deadline": after.deadline,
            "esc": False if escalation else None,
        },
    )
    closing = after.state is State.CLOSED and before.state is not State.CLOSED
    conn.execute(
        text(
            'UPDATE "case" SET state = :state, level = :level, deadline = :deadline, paused_at = :paused_at,'
            " pause_kind = :pause_kind, reworks = :reworks, overdue = :overdue, version = version + 1,"
            " escalations = escalations + :escalated, deferred = deferred OR :paused,"
            " department = CASE WHEN :is_department THEN :department ELSE department END,"
            " closed_at = CASE WHEN :closing THEN :at ELSE closed_at END,"
            " closed_on_time = CASE WHEN :closing THEN :on_time AND NOT EXISTS (SELECT 1 FROM case_transition b"
            " WHERE b.case_id = :id AND b.action = 'auto_escalate') ELSE closed_on_time END"
            " WHERE id = :id"
        ),
        {
            "id": case_id,
            "state": after.state.value,
            "level": after.level.value,
            "deadline": after.deadline,
            "paused_at": after.paused_at,
            "pause_kind": after.pause_kind,
            "reworks": after.reworks,
            "overdue": after.overdue,
            "escalated": int(action in (Action.ESCALATE.value, Action.AUTO_ESCALATE.value)),
            "paused": after.paused_at is not None,
            "department": rules.department(after.category),
            "is_department": after.level is Level.DEPARTMENT,
            "closing": closing,
            "at": at,
            "on_time": closing and not before.overdue and (before.deadline is None or at <= before.deadline),
        },
    )


def transition(
    engine: Engine,
    case_id: uuid.UUID,
    action: Action,
    actor: str,
    note: str,
    now: datetime,
    rules: Rules,
    *,
    assignee: str | None = None,
    check: Callable[[Connection, Any], None] | None = None,
) -> None:
    """Apply a person's action to a case; raises CaseNotFound, NotAllowed or ReasonRequired.

    ``assignee`` is who a dispatch hands the case to (a decline clears it); ``check`` sees the
    locked case row before anything changes and may raise to refuse.
    """
    with engine.begin() as conn:
        row = conn.execute(loop_cases().where(case_table.c.id == case_id).with_for_update()).one_or_none()
        if row is None:
            raise CaseNotFound(str(case_id))
        if check is not None:
            check(conn, row)
        before = case_from_row(row)
        if before.deadline is None and before.state is not State.CLOSED:  # the clock has not seen it yet
            before = replace(before, deadline=rules.deadline(before.category, Level.GRID, row.opened_at))
        after = apply(before, action, now, rules, note)
        store_transition(conn, row.id, before, after, action.value, actor, note, now, rules)
        if action in (Action.DISPATCH, Action.DECLINE):
            conn.execute(
                text('UPDATE "case" SET assignee = :a WHERE id = :id'),
                {"a": assignee if action is Action.DISPATCH else None, "id": case_id},
            )
