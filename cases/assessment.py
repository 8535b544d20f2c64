"""What the assessment keeps of a case (pure): its due moment (应结案时间), last resolution, and when it counts.

- The **due moment** is the fix deadline (处置时限) set when the case is filed: the fix limit
  of the level that holds it right after filing, from the filing moment, on its category's
  clock. An extension approved before the due moment moves it by the length granted; a
  suspension approved before it moves it by the time the suspension lasted, once it ends.
  Escalation, rework, a return, a new holder and a recomputed working deadline never move it,
  and neither does an approval that comes after it (the case was late by then).
- A case **counts** in the period holding ``counted_at``: its due moment, or its close when
  it closed before that. While a suspension approved in time runs, it counts nowhere (it is
  out of the count, 挂账). The due moment only moves before it has passed, so once it lies in
  a past period it stays there: a case is due in one period only, and a closed period reads
  the same whenever it is read.
- **On time** means the final accepted resolution (the last ``resolve`` before the
  verification that closed the case) came at or before the due moment; it is read from the
  timestamps, never from a flag the clock sets.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from cases.loop import NOT_CASES, Case, State
from cases.rules import Rules


@dataclass(frozen=True)
class Standing:
    """The assessment's columns of a case."""

    due_at: datetime | None = None  # 应结案时间
    resolved_at: datetime | None = None  # the last resolution
    counted_at: datetime | None = None  # the moment that places the case in a period
    extended_at: datetime | None = None  # the first extension that moved the due moment


def filed(case: Case) -> bool:
    """Whether a report in this state has become a case."""
    return case.state not in NOT_CASES | {State.REPORTED}


def next_standing(standing: Standing, before: Case, after: Case, action: str, at: datetime, rules: Rules) -> Standing:
    """The standing after ``action`` at ``at`` turned ``before`` into ``after``."""
    s = standing
    due = s.due_at
    if due is None and filed(after) and not filed(before):
        due = rules.deadline(after.category, after.level, at)
    elif due is not None and action == "approve" and before.request and before.request.kind == "extension" and at < due:
        due = rules.after(after.category, due, before.request.length)
        s = replace(s, extended_at=s.extended_at or at)
    if due is not None and before.paused_at is not None and after.paused_at is None and before.paused_at < due:
        due = rules.shift(after.category, due, rules.elapsed(after.category, before.paused_at, at))
    if action == "resolve":
        s = replace(s, resolved_at=at)
    counted: datetime | None
    if due is None or not filed(after):
        counted = None
    elif after.state is State.CLOSED:
        counted = s.counted_at if before.state is State.CLOSED else min(at, due)
    elif after.paused_at is not None and after.paused_at < due:
        counted = None  # out of the count while a suspension approved in time runs
    else:
        counted = due
    return replace(s, due_at=due, counted_at=counted)


def on_time(standing: Standing) -> bool:
    """Whether the last resolution came at or before the due moment (for a case being closed)."""
    s = standing
    return s.resolved_at is not None and s.due_at is not None and s.resolved_at <= s.due_at
