"""The case loop (闭环) as a pure state machine: state, level, deadline, pauses."""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cases.errors import NotAllowed, ReasonRequired
from cases.rules import Level, Rules


class State(StrEnum):
    """Where a case is in the closed loop."""

    REPORTED = "reported"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(StrEnum):
    """What a person (or the clock) does to a case."""

    DISPATCH = "dispatch"
    DECLINE = "decline"  # whoever it was dispatched to gives it back
    ACCEPT = "accept"
    RESOLVE = "resolve"
    VERIFY = "verify"
    REJECT_RESOLUTION = "reject_resolution"
    ESCALATE = "escalate"
    EXTEND = "extend"
    SUSPEND = "suspend"
    RESUME = "resume"
    CLOSE = "close"
    AUTO_ESCALATE = "auto_escalate"  # the clock: a deadline passed


_MOVES: dict[Action, tuple[set[State], State | None]] = {
    Action.DISPATCH: ({State.REPORTED}, State.DISPATCHED),
    Action.DECLINE: ({State.DISPATCHED}, State.REPORTED),
    Action.ACCEPT: ({State.REPORTED, State.DISPATCHED}, State.IN_PROGRESS),
    Action.RESOLVE: ({State.IN_PROGRESS}, State.RESOLVED),
    Action.VERIFY: ({State.RESOLVED}, State.CLOSED),
    Action.REJECT_RESOLUTION: ({State.RESOLVED}, State.IN_PROGRESS),
    Action.CLOSE: ({State.REPORTED, State.DISPATCHED, State.IN_PROGRESS, State.RESOLVED}, State.CLOSED),
}
OPEN = {State.REPORTED, State.DISPATCHED, State.IN_PROGRESS, State.RESOLVED}


@dataclass(frozen=True)
class Case:
    """What the loop needs to know about a case."""

    category: str
    state: State
    level: Level
    deadline: datetime | None
    paused_at: datetime | None = None
    pause_kind: str | None = None
    reworks: int = 0
    overdue: bool = False

    def describe(self) -> str:
        """State (and pause) in words."""
        return f"{self.state.value}{f' and paused ({self.pause_kind})' if self.paused_at else ''}"


def allowed_actions(case: Case) -> list[str]:
    """The actions a person may take now."""
    if case.state is State.CLOSED:
        return []
    if case.paused_at is not None:
        return [Action.CLOSE.value, Action.RESUME.value]
    allowed = [a.value for a, (sources, _) in _MOVES.items() if case.state in sources]
    if case.level.next is not None:
        allowed.append(Action.ESCALATE.value)
    return sorted([*allowed, Action.EXTEND.value, Action.SUSPEND.value])


def apply(case: Case, action: Action, now: datetime, rules: Rules, note: str = "") -> Case:
    """The case after ``action`` at ``now``; raises NotAllowed or ReasonRequired."""
    if action is Action.AUTO_ESCALATE:
        return _breach(case, rules)
    if action.value not in allowed_actions(case):
        raise NotAllowed(action.value, case.describe(), allowed_actions(case))
    if action in (Action.EXTEND, Action.SUSPEND):
        if not note.strip():
            raise ReasonRequired(f"{action.value} needs a reason in the note")
        return replace(case, paused_at=now, pause_kind="extension" if action is Action.EXTEND else "suspension")
    if action is Action.RESUME:
        assert case.paused_at is not None
        paused_for = rules.elapsed(case.category, case.paused_at, now)
        deadline = rules.shift(case.category, case.deadline, paused_for) if case.deadline else None
        return replace(case, paused_at=None, pause_kind=None, deadline=deadline)
    if action is Action.ESCALATE:
        level = case.level.next
        assert level is not None
        return replace(case, level=level, deadline=rules.deadline(case.category, level, now), overdue=False)
    sources, target = _MOVES[action]
    assert target is not None
    changed = replace(case, state=target)
    if action is Action.REJECT_RESOLUTION:
        changed = replace(changed, reworks=case.reworks + 1)
    if target is State.CLOSED:
        changed = replace(changed, paused_at=None, pause_kind=None)
    return changed


def breached(case: Case, now: datetime) -> bool:
    """Whether the clock must act: open, not paused, past its deadline, not yet flagged at the top."""
    return (
        case.state in OPEN
        and case.paused_at is None
        and case.deadline is not None
        and case.deadline <= now
        and not case.overdue
    )


def _breach(case: Case, rules: Rules) -> Case:
    """Escalate one level; the new level's clock starts at the missed deadline. At the top, flag overdue."""
    assert case.deadline is not None
    level = case.level.next
    if level is None:
        return replace(case, overdue=True)
    return replace(case, level=level, deadline=rules.deadline(case.category, level, case.deadline))
