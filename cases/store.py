"""Cases in PostgreSQL: read one for the loop, apply an action, store each transition in order."""

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update

from cases.assessment import Standing, next_standing, on_time
from cases.categories import rule_key
from cases.errors import CaseNotFound, InvalidLength, NotAllowed
from cases.loop import ENDED, NOT_CASES, OPEN, Action, Case, Request, State, apply
from cases.reads import CASE_COLUMNS
from cases.rollup import unroll
from cases.routing import REROUTED, ROUTED, facts, route
from cases.rules import Level, Limit, Rules, RulesError, Stage
from db.tables import case as case_table
from db.tables import event

CLOCK = "sla-clock"  # the actor of the clock's transitions

# Transitions that also go to the escalations topic: whistles, and every missed deadline.
ESCALATIONS = {
    Action.ESCALATE.value,
    Action.AUTO_ESCALATE.value,
    "overdue",
    "intake_overdue",
    "sign_in_overdue",
    "verify_overdue",
    "sign_in_returned",
}
# The transitions a person is told of: a case dispatched to them, their work sent back.
NOTICES = {Action.DISPATCH.value: "dispatched", Action.REJECT_RESOLUTION.value: "rework"}
LOOP_COLUMNS = [case_table.c[name] for name in CASE_COLUMNS]  # what the loop reads of a case: cases.reads


# The assessment's columns (cases.assessment.Standing), in its field order.
STANDING_COLUMNS = ("due_at", "resolved_at", "counted_at", "extended_at")


# Who reported the case: the finder who holds a report handled on the spot.
_REPORTER = select(event.c.reporter).where(event.c.id == case_table.c.id).scalar_subquery().label("reporter")


def loop_cases() -> Any:
    """``SELECT`` of the loop's columns of cases (and the reporter), to be narrowed by the caller."""
    return select(*LOOP_COLUMNS, _REPORTER)


def loop_case(conn: Connection, case_id: uuid.UUID, rules: Rules) -> Case | None:
    """The loop's view of the case ``case_id``, if it exists."""
    row = conn.execute(loop_cases().where(case_table.c.id == case_id)).one_or_none()
    return None if row is None else case_from_row(row, rules)


def case_from_row(row: Any, rules: Rules) -> Case:
    """The loop's view of a case row (its category with its filing condition: what the rules know it by)."""
    rule = rule_key(row.category, row.condition)
    request = None
    if row.request_kind is not None:
        request = Request(row.request_kind, row.request_by, rules.parse_length(rule, row.request_length))
    return Case(
        rule,
        State(row.state),
        Level(row.level),
        row.deadline,
        row.paused_at,
        row.pause_kind,
        row.reworks,
        row.overdue,
        request,
        row.extensions,
        row.suspensions,
        row.paused_until,
        Level(row.dispatched_from) if row.dispatched_from else None,
        row.assignee,
    )


def _length_text(limit: Limit) -> str:
    if limit.workdays:
        return f"{limit.workdays}d"
    return f"{limit.span.total_seconds() / 60:g}m"


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
    sealed_note: bytes | None = None,
) -> None:
    """Store the transition and the case after it, with its assessment columns (the caller holds the row lock).

    ``sealed_note``: the note as written, sealed, when it held personal numbers (``note`` is it masked).
    """
    escalation = action in ESCALATIONS
    *stored, opened_at, rolled = conn.execute(
        select(*(case_table.c[name] for name in STANDING_COLUMNS), case_table.c.opened_at, case_table.c.rolled).where(
            case_table.c.id == case_id
        )
    ).one()
    unroll(conn, case_id, rules, rolled)
    standing = next_standing(Standing(*stored), before, after, action, at, rules)
    seq = conn.execute(
        text(
            "INSERT INTO case_transition (case_id, case_opened_at, seq, action, actor, note, at, from_state, to_state,"
            " from_level, to_level, deadline, escalation_published)"
            " SELECT :id, :opened, coalesce(max(seq), 0) + 1, :action, :actor, :note, :at, :fs, :ts, :fl, :tl,"
            " :deadline, :esc FROM case_transition WHERE case_id = :id AND case_opened_at = :opened RETURNING seq"
        ),
        {
            "id": case_id,
            "opened": opened_at,
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
    ).scalar_one()
    kind = NOTICES.get(action)
    if kind and after.assignee and after.assignee != actor:  # told by the clock's job (streams.notices)
        conn.execute(
            text("INSERT INTO notice (username, case_id, kind) VALUES (:user, :id, :kind)"),
            {"user": after.assignee, "id": case_id, "kind": kind},
        )
    if sealed_note is not None:
        conn.execute(
            text("INSERT INTO sealed_text (source, ref, sealed) VALUES ('note', :ref, :sealed)"),
            {"ref": f"{case_id}:{seq}", "sealed": sealed_note},
        )
    closing = after.state is State.CLOSED and before.state is not State.CLOSED
    request = after.request
    conn.execute(
        text(
            'UPDATE "case" SET state = :state, level = :level, deadline = :deadline, paused_at = :paused_at,'
            " pause_kind = :pause_kind, reworks = :reworks, overdue = :overdue, version = version + 1,"
            " escalations = escalations + :escalated, assignee = :assignee,"
            " request_kind = :request_kind, request_by = :request_by, request_length = :request_length,"
            " extensions = :extensions, suspensions = :suspensions, paused_until = :paused_until,"
            " dispatched_from = :dispatched_from,"
            " department = CASE WHEN :is_department THEN coalesce(unit, :department) ELSE department END,"
            " filed_at = CASE WHEN filed_at IS NULL AND :filed THEN :at ELSE filed_at END,"
            " closed_at = CASE WHEN :ending THEN :at ELSE closed_at END,"
            " closed_on_time = CASE WHEN :closing THEN :on_time ELSE closed_on_time END,"
            " due_at = :due_at, resolved_at = :resolved_at, counted_at = :counted_at, extended_at = :extended_at,"
            " hours_to_close = CASE WHEN :closing THEN :hours ELSE hours_to_close END"
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
            "assignee": after.assignee,
            "request_kind": request.kind if request else None,
            "request_by": request.by if request else None,
            "request_length": _length_text(request.length) if request else None,
            "extensions": after.extensions,
            "suspensions": after.suspensions,
            "paused_until": after.paused_until,
            "dispatched_from": after.dispatched_from.value if after.dispatched_from else None,
            "department": rules.department(after.category),
            "is_department": after.level is Level.DEPARTMENT,
            "filed": after.state not in NOT_CASES | {State.REPORTED},
            "ending": after.state in ENDED and before.state not in ENDED,
            "closing": closing,
            "at": at,
            "on_time": closing and on_time(standing),
            "due_at": standing.due_at,
            "resolved_at": standing.resolved_at,
            "counted_at": standing.counted_at,
            "extended_at": standing.extended_at,
            "hours": rules.calendar.between(opened_at, at).total_seconds() / 3600 if closing else None,
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
    length: str | None = None,
    into: uuid.UUID | None = None,
    check: Callable[[Connection, Any], None] | None = None,
    sealed_note: bytes | None = None,
) -> None:
    """Apply a person's action to a case; raises CaseNotFound, NotAllowed or ReasonRequired.

    ``assignee`` is who a dispatch hands the case to (none: the category's responsible unit;
    a return clears it); ``length`` is what an extension or suspension asks for (``4h``, ``2d``);
    ``into`` is the open case a merged duplicate joins; ``check`` sees the locked case row
    before anything changes and may raise to refuse; ``sealed_note`` is the note as written, sealed, when
    ``note`` is it with personal numbers masked.
    """
    with engine.begin() as conn:
        row = conn.execute(loop_cases().where(case_table.c.id == case_id).with_for_update()).one_or_none()
        if row is None:
            raise CaseNotFound(str(case_id))
        if check is not None:
            check(conn, row)
        before = case_from_row(row, rules)
        if before.deadline is None and before.state is State.REPORTED:  # the clock's intake has not seen it yet
            before = take_in(conn, row, rules)
        asked = (
            _length(rules, before.category, length) if length and action in (Action.EXTEND, Action.SUSPEND) else None
        )
        after = apply(before, action, now, rules, note, actor=actor, length=asked, assignee=assignee)
        if action is Action.MERGE:
            _merge(conn, row, into, actor, now, rules)
        store_transition(conn, row.id, before, after, action.value, actor, note, now, rules, sealed_note)


def _length(rules: Rules, category: str, length: str) -> Limit:
    try:
        return rules.parse_length(category, length)
    except RulesError as exc:
        raise InvalidLength(length) from exc


# A building head's (楼栋长's) report is handled by the grid's gridworker (the first by login, if several).
_FINDER = """
SELECT CASE WHEN r.role = 'building_head' THEN
  (SELECT u.username FROM app_user u WHERE u.role = 'gridworker' AND u.scope = :grid AND NOT u.disabled
   ORDER BY u.username LIMIT 1) ELSE :reporter END
FROM (SELECT (SELECT role FROM app_user WHERE username = :reporter) AS role) r
"""


def _finder(conn: Connection, row: Any) -> str | None:
    """Who holds a report handled on the spot: its reporter, or for a building head's the grid's gridworker."""
    found: str | None = conn.execute(text(_FINDER), {"grid": row.grid_code, "reporter": row.reporter}).scalar()
    return found


def take_in(conn: Connection, row: Any, rules: Rules) -> Case:
    """The intake of a new report (the caller holds its row lock), as of when it was received.

    Handled on the spot: in progress at the grid, held by its reporter (a building head's report: by the
    grid's gridworker); sent straight to its
    unit: dispatched there; otherwise (and for every resident request, which the community
    dispatches to a volunteer) it keeps waiting for a supervisor, with the intake deadline.
    """
    before = case_from_row(row, rules)
    unit = _route(conn, row.id, before, rules, row.opened_at)
    if row.kind == "incident":
        after = apply(before, Action.AUTO_INTAKE, row.opened_at, rules, assignee=_finder(conn, row))
    else:
        after = replace(before, deadline=rules.stage_deadline(before.category, Stage.INTAKE, row.opened_at))
    if after.state is State.REPORTED:
        conn.execute(update(case_table).where(case_table.c.id == row.id).values(deadline=after.deadline))
        return after
    on_the_spot = after.state is State.IN_PROGRESS
    note = "" if on_the_spot else unit  # the action says how; a direct one names its unit
    store_transition(conn, row.id, before, after, Action.AUTO_INTAKE.value, CLOCK, note, row.opened_at, rules)
    return after


def _route(conn: Connection, case_id: uuid.UUID, case: Case, rules: Rules, at: datetime) -> str:
    """Decide the case's unit (分拨) and keep it; a decision the rules' default did not make goes in its history."""
    decided = route(case.category, rules, *facts(conn, case_id))
    conn.execute(update(case_table).where(case_table.c.id == case_id).values(unit=decided.unit))
    if decided.why:
        store_transition(conn, case_id, case, case, ROUTED, CLOCK, decided.why, at, rules)
    return decided.unit


def reroute(
    engine: Engine, case_id: uuid.UUID, unit: str, reason: str, actor: str, now: datetime, rules: Rules
) -> None:
    """A supervisor's override of the case's unit (改派), with the reason in its history; NotAllowed once ended."""
    with engine.begin() as conn:
        row = conn.execute(loop_cases().where(case_table.c.id == case_id).with_for_update()).one_or_none()
        if row is None:
            raise CaseNotFound(str(case_id))
        case = case_from_row(row, rules)
        if case.state in ENDED:
            raise NotAllowed("ended", REROUTED, [])
        conn.execute(update(case_table).where(case_table.c.id == case_id).values(unit=unit))
        store_transition(conn, case_id, case, case, REROUTED, actor, f"{unit}：{reason}", now, rules)


def _merge(conn: Connection, row: Any, into: uuid.UUID | None, actor: str, now: datetime, rules: Rules) -> None:
    """Join a duplicate report to the open case it repeats; the case's history names the report."""
    if into is None or into == row.id:
        raise NotAllowed("merge_into", "merge", ["file", "refuse", "void"])
    target = conn.execute(loop_cases().where(case_table.c.id == into).with_for_update()).one_or_none()
    if target is None or State(target.state) not in OPEN - {State.REPORTED} or target.category != row.category:
        raise NotAllowed("merge_target", "merge", ["file", "refuse", "void"], into=str(into), category=row.category)
    conn.execute(text('UPDATE "case" SET merged_into = :into WHERE id = :id'), {"into": into, "id": row.id})
    case = case_from_row(target, rules)
    store_transition(conn, into, case, case, "merged_in", actor, str(row.id), now, rules)  # the report's id
