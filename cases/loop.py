"""The case loop (闭环) as a pure state machine: intake, dispatch, sign-in, fix, verification, approvals.

A report waits for intake (``reported``), unless its category lets the finder handle it on
the spot or sends it straight to its responsible unit (the clock's intake does both). A
supervisor files it (``filed``), or refuses, voids or merges it. A filed case is dispatched
to a unit or a person, who signs for it (``accept``) or returns it; the fix deadline runs
from the sign-in. A resolution is verified, or sent back for rework. Extensions and
suspensions are requests that the level above approves or refuses; nobody approves their own.
Each stage has its deadline: intake, sign-in, fix (per level) and verification.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cases.errors import NotAllowed, ReasonRequired
from cases.rules import Level, Limit, Rules, Stage


class State(StrEnum):
    """Where a report or case is."""

    REPORTED = "reported"  # waiting for intake
    FILED = "filed"  # a case waiting to be dispatched (or returned by its unit)
    DISPATCHED = "dispatched"  # waiting for the unit or person to sign for it
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # waiting for verification
    CLOSED = "closed"
    REFUSED = "refused"  # not accepted as a case
    VOIDED = "voided"  # invalid report
    MERGED = "merged"  # a duplicate, merged into an open case


class Action(StrEnum):
    """What a person (or the clock) does to a case."""

    FILE = "file"
    REFUSE = "refuse"
    VOID = "void"
    MERGE = "merge"
    DISPATCH = "dispatch"
    DECLINE = "decline"  # the unit or person it was dispatched to returns it, with a reason
    ACCEPT = "accept"  # sign for it
    RESOLVE = "resolve"
    VERIFY = "verify"
    REJECT_RESOLUTION = "reject_resolution"  # rework
    ESCALATE = "escalate"
    EXTEND = "extend"  # ask for a later deadline
    SUSPEND = "suspend"  # ask to take the case out of the count for a while
    APPROVE = "approve"  # the pending extension or suspension
    REFUSE_REQUEST = "refuse_request"
    RESUME = "resume"  # end a suspension early
    AUTO_INTAKE = "auto_intake"  # the clock: handled on the spot, or sent straight to its unit
    AUTO_ESCALATE = "auto_escalate"  # the clock: a deadline passed
    AUTO_RESUME = "auto_resume"  # the clock: a suspension ended


CLOCK_ACTIONS = frozenset({Action.AUTO_INTAKE, Action.AUTO_ESCALATE, Action.AUTO_RESUME})
# Actions that must say why: every refusal, return, rework and rejection, and every request for time.
REASONED = frozenset(
    {
        Action.REFUSE,
        Action.VOID,
        Action.MERGE,
        Action.DECLINE,
        Action.REJECT_RESOLUTION,
        Action.EXTEND,
        Action.SUSPEND,
        Action.REFUSE_REQUEST,
    }
)
_MOVES: dict[Action, tuple[frozenset[State], State]] = {
    Action.FILE: (frozenset({State.REPORTED}), State.FILED),
    Action.REFUSE: (frozenset({State.REPORTED}), State.REFUSED),
    Action.VOID: (frozenset({State.REPORTED}), State.VOIDED),
    Action.MERGE: (frozenset({State.REPORTED}), State.MERGED),
    Action.DISPATCH: (frozenset({State.REPORTED, State.FILED}), State.DISPATCHED),
    Action.DECLINE: (frozenset({State.DISPATCHED}), State.FILED),
    Action.ACCEPT: (frozenset({State.FILED, State.DISPATCHED}), State.IN_PROGRESS),
    Action.RESOLVE: (frozenset({State.IN_PROGRESS}), State.RESOLVED),
    Action.VERIFY: (frozenset({State.RESOLVED}), State.CLOSED),
    Action.REJECT_RESOLUTION: (frozenset({State.RESOLVED}), State.IN_PROGRESS),
}
OPEN = frozenset({State.REPORTED, State.FILED, State.DISPATCHED, State.IN_PROGRESS, State.RESOLVED})
NOT_CASES = frozenset({State.REFUSED, State.VOIDED, State.MERGED})  # reports that never became cases
ENDED = NOT_CASES | {State.CLOSED}
# The stage whose deadline runs in each open state.
STAGE_OF = {
    State.REPORTED: Stage.INTAKE,
    State.FILED: Stage.INTAKE,
    State.DISPATCHED: Stage.SIGN_IN,
    State.IN_PROGRESS: Stage.FIX,
    State.RESOLVED: Stage.VERIFY,
}
HANDLED = frozenset({State.FILED, State.DISPATCHED, State.IN_PROGRESS})  # where extensions may be asked


@dataclass(frozen=True)
class Request:
    """A pending extension or suspension: who asked, and for how long."""

    kind: str  # "extension" or "suspension"
    by: str
    length: Limit


@dataclass(frozen=True)
class Case:
    """What the loop needs to know about a case."""

    category: str  # with its filing condition where it has one ("BJ0116/1": cases.categories.rule_key)
    state: State
    level: Level
    deadline: datetime | None
    paused_at: datetime | None = None
    pause_kind: str | None = None
    reworks: int = 0
    overdue: bool = False
    request: Request | None = None
    extensions: int = 0
    suspensions: int = 0
    paused_until: datetime | None = None
    dispatched_from: Level | None = None  # the level that dispatched it (the report's grid for a direct one)
    assignee: str | None = None  # the person holding it (a unit holds a case it was dispatched to without one)


def allowed_actions(case: Case) -> list[str]:
    """The actions a person may take now (the access rules narrow them by role)."""
    if case.state in ENDED:
        return []
    if case.paused_at is not None:
        return [Action.RESUME.value]
    allowed = {a.value for a, (sources, _) in _MOVES.items() if case.state in sources}
    if case.request is not None:
        allowed |= {Action.APPROVE.value, Action.REFUSE_REQUEST.value}
    elif case.state in HANDLED:
        allowed |= {Action.EXTEND.value, Action.SUSPEND.value}
    if case.level.next is not None and case.state in (State.FILED, State.IN_PROGRESS):
        allowed.add(Action.ESCALATE.value)
    return sorted(allowed)


def apply(
    case: Case,
    action: Action,
    now: datetime,
    rules: Rules,
    note: str = "",
    *,
    actor: str = "",
    length: Limit | None = None,
    assignee: str | None = None,
) -> Case:
    """The case after ``action`` by ``actor`` at ``now``; raises NotAllowed or ReasonRequired.

    ``length`` is how much later an extension asks the deadline to be, or how long a suspension lasts;
    ``assignee`` is the person a dispatch hands the case to at its level (none: its responsible unit), or
    the finder who holds a report handled on the spot.
    """
    if action is Action.AUTO_ESCALATE:
        return _breach(case, rules)
    if action is Action.AUTO_RESUME:
        return _resume(case, now, rules)
    if action is Action.AUTO_INTAKE:
        return _intake(case, now, rules, assignee)
    if action.value not in allowed_actions(case):
        raise NotAllowed("action", action.value, allowed_actions(case), state=case.state.value)
    if action in REASONED and not note.strip():
        raise ReasonRequired("reason", "note", action=action.value)
    if action in (Action.EXTEND, Action.SUSPEND):
        return _ask(case, action, actor, length, rules)
    if action in (Action.APPROVE, Action.REFUSE_REQUEST):
        return _decide(case, action, actor, now, rules)
    if action is Action.RESUME:
        return _resume(case, now, rules)
    if action is Action.ESCALATE:
        level = case.level.next
        assert level is not None
        return enter(replace(case, level=level), case.state, now, rules)
    _, target = _MOVES[action]
    changed = replace(case, reworks=case.reworks + (action is Action.REJECT_RESOLUTION))
    if action is Action.DISPATCH:
        level = case.level if assignee else Level.DEPARTMENT
        changed = replace(changed, dispatched_from=case.level, level=level, assignee=assignee)
    elif action is Action.DECLINE:
        changed = replace(changed, assignee=None)
    return enter(changed, target, now, rules)


def enter(case: Case, state: State, now: datetime, rules: Rules) -> Case:
    """``case`` moved to ``state`` at ``now``, with the deadline of that state's stage."""
    if state in ENDED:
        kept = case.deadline if state is State.CLOSED else None  # a closed case is judged by its last deadline
        return replace(case, state=state, deadline=kept, overdue=False, request=None)
    return replace(case, state=state, deadline=stage_deadline(case, state, now, rules), overdue=False)


def stage_deadline(case: Case, state: State, start: datetime, rules: Rules) -> datetime:
    """When the stage of ``state`` begun at ``start`` is due: the fix limit of the case's level, or the stage's."""
    stage = STAGE_OF[state]
    if stage is Stage.FIX:
        return rules.deadline(case.category, case.level, start)
    return rules.stage_deadline(case.category, stage, start)


def _intake(case: Case, now: datetime, rules: Rules, finder: str | None) -> Case:
    """The clock's intake of a new report: on the spot, straight to the unit, or waiting for a supervisor."""
    if rules.self_handle(case.category):
        return enter(replace(case, assignee=finder), State.IN_PROGRESS, now, rules)
    if rules.direct(case.category):
        return enter(replace(case, level=Level.DEPARTMENT, dispatched_from=case.level), State.DISPATCHED, now, rules)
    return replace(case, deadline=rules.stage_deadline(case.category, Stage.INTAKE, now))


def _ask(case: Case, action: Action, actor: str, length: Limit | None, rules: Rules) -> Case:
    kind = "extension" if action is Action.EXTEND else "suspension"
    limits = rules.limits_of(kind)
    if length is None:
        raise ReasonRequired("length_needed", "length", action=action.value, **limits.most())
    if not limits.allows(length):
        raise NotAllowed("too_long", action.value, allowed_actions(case), **limits.most())
    used = case.extensions if kind == "extension" else case.suspensions
    if used >= limits.max_count:
        raise NotAllowed(
            "used_up",
            action.value,
            [a for a in allowed_actions(case) if a not in (Action.EXTEND.value, Action.SUSPEND.value)],
            request=kind,
            used=used,
        )
    return replace(case, request=Request(kind, actor, length))


def _decide(case: Case, action: Action, actor: str, now: datetime, rules: Rules) -> Case:
    request = case.request
    assert request is not None
    if actor == request.by:
        raise NotAllowed(
            "own_request",
            action.value,
            [a for a in allowed_actions(case) if a not in (Action.APPROVE.value, Action.REFUSE_REQUEST.value)],
            request=request.kind,
        )
    if action is Action.REFUSE_REQUEST:
        return replace(case, request=None)
    if request.kind == "extension":
        assert case.deadline is not None
        return replace(
            case,
            request=None,
            deadline=rules.after(case.category, case.deadline, request.length),
            extensions=case.extensions + 1,
            overdue=False,
        )
    return replace(
        case,
        request=None,
        paused_at=now,
        pause_kind="suspension",
        paused_until=rules.after(case.category, now, request.length),
        suspensions=case.suspensions + 1,
    )


def _resume(case: Case, now: datetime, rules: Rules) -> Case:
    assert case.paused_at is not None
    paused_for = rules.elapsed(case.category, case.paused_at, now)
    deadline = rules.shift(case.category, case.deadline, paused_for) if case.deadline else None
    return replace(case, paused_at=None, pause_kind=None, paused_until=None, deadline=deadline)


def breached(case: Case, now: datetime) -> bool:
    """Whether the clock must act: open, not paused, past its deadline, not yet flagged."""
    return (
        case.state in OPEN
        and case.paused_at is None
        and case.deadline is not None
        and case.deadline <= now
        and not case.overdue
    )


def breach_action(case: Case, rules: Rules) -> str:
    """How a breach is recorded: an escalation of the fix stage, else the stage's overdue flag."""
    stage = STAGE_OF[case.state]
    if stage is Stage.FIX:
        return Action.AUTO_ESCALATE.value if case.level.next is not None else "overdue"
    returns = rules.deadlines(case.category).sign_in_breach == "next_level"
    if stage is Stage.SIGN_IN and returns and _returned_to(case) is not None:
        return "sign_in_returned"
    return f"{stage.value}_overdue"


def _returned_to(case: Case) -> Level | None:
    """Where a case whose sign-in was missed goes back to, when its rules say ``next_level``."""
    if case.state is not State.DISPATCHED or case.dispatched_from is None:
        return None
    return case.dispatched_from.next


def _sign_in_missed(case: Case, rules: Rules) -> Case:
    """The case after a missed sign-in: flagged, or filed again a level above its dispatcher's."""
    target = _returned_to(case) if rules.deadlines(case.category).sign_in_breach == "next_level" else None
    if target is None:
        return replace(case, overdue=True)
    assert case.deadline is not None
    returned = replace(case, level=target, dispatched_from=None, assignee=None)
    return enter(returned, State.FILED, case.deadline, rules)


def _breach(case: Case, rules: Rules) -> Case:
    """The case after a missed deadline.

    A missed fix deadline escalates one level (its clock starts at the missed deadline); any
    other missed deadline, or one at the top, flags the case overdue in that stage.
    """
    assert case.deadline is not None
    if STAGE_OF[case.state] is Stage.SIGN_IN:
        return _sign_in_missed(case, rules)
    level = case.level.next
    if STAGE_OF[case.state] is not Stage.FIX or level is None:
        return replace(case, overdue=True)
    return replace(case, level=level, deadline=rules.deadline(case.category, level, case.deadline))
