"""Appeals against a timeout (超时申诉): a late case appealed once, decided by the level the rules name.

The unit or gridworker who held a case closed late appeals it with a reason and evidence (a
note, or one of the case's photos) within the rules' ``appeals.within`` of its close. A
supervisor of the rules' ``decider`` level whose area holds the case decides, never the one
who appealed. Upheld, the case counts as closed on time in the indicators; its raw lateness
stays readable (``closed_on_time`` of the case, ``closed_on_time_raw`` of the indicators).
Both steps are transitions in the case's history (``appeal``, ``appeal_upheld`` or
``appeal_refused``), published like any other.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from cases.errors import CaseNotFound, NotAllowed
from cases.places import IN_AREA
from cases.rollup import unroll
from cases.rules import Rules
from cases.store import case_from_row, loop_cases, store_transition
from db.tables import appeal, photo
from db.tables import case as case_table


class AppealRefused(NotAllowed):
    """The appeal does not apply to the case as it is (``why``: the message key's last part)."""

    def __init__(self, why: str, **values: Any) -> None:
        super().__init__(f"appeal_{why}", "appeal", [], **values)


class NotYourDecision(NotAllowed):
    """Nobody decides their own appeal, and only the rules' level decides."""

    def __init__(self, why: str, **values: Any) -> None:
        super().__init__(f"appeal_decision_{why}", "decide", [], **values)


def _locked(conn: Connection, case_id: uuid.UUID) -> Any:
    row = conn.execute(
        loop_cases()
        .add_columns(case_table.c.closed_at, case_table.c.closed_on_time)
        .where(case_table.c.id == case_id)
        .with_for_update(of=case_table)
    ).one_or_none()
    if row is None:
        raise CaseNotFound(str(case_id))
    return row


def ask(
    engine: Engine,
    case_id: uuid.UUID,
    appellant: str,
    reason: str,
    evidence: str,
    photo_sha256: str | None,
    now: datetime,
    rules: Rules,
) -> dict[str, Any]:
    """Lodge the appeal of a case closed late; raises AppealRefused (409) when it does not apply."""
    with engine.begin() as conn:
        row = _locked(conn, case_id)
        if row.state != "closed" or row.closed_on_time is not False:
            raise AppealRefused("not_late")
        if now - row.closed_at > rules.appeals.within:
            raise AppealRefused("too_late", days=rules.appeals.within.total_seconds() / 86400)
        if photo_sha256 is not None:
            found = conn.execute(
                select(photo.c.sha256).where(photo.c.event_id == case_id, photo.c.sha256 == photo_sha256)
            ).first()
            if found is None:
                raise AppealRefused("photo", photo=photo_sha256)
        if read(conn, case_id) is not None:  # the case row is locked: no second appeal can slip in
            raise AppealRefused("again")
        conn.execute(
            insert(appeal).values(
                case_id=case_id, appellant=appellant, reason=reason, evidence=evidence, photo=photo_sha256, asked_at=now
            )
        )
        case = case_from_row(row, rules)
        store_transition(conn, case_id, case, case, "appeal", appellant, reason, now, rules)
        return read(conn, case_id) or {}


def decide(
    engine: Engine,
    case_id: uuid.UUID,
    decider: str,
    decider_level: str,
    upheld: bool,
    note: str,
    now: datetime,
    rules: Rules,
) -> dict[str, Any]:
    """Uphold or refuse a pending appeal as ``decider`` (a supervisor at ``decider_level``)."""
    with engine.begin() as conn:
        row = _locked(conn, case_id)
        pending = conn.execute(select(appeal).where(appeal.c.case_id == case_id).with_for_update()).one_or_none()
        if pending is None or pending.decided_at is not None:
            raise NotYourDecision("none")
        if pending.appellant == decider:
            raise NotYourDecision("own")
        if decider_level != rules.appeals.decider:
            raise NotYourDecision("level", level=rules.appeals.decider)
        unroll(conn, case_id, rules)  # before the decision changes what the case counts
        conn.execute(
            appeal.update()
            .where(appeal.c.case_id == case_id)
            .values(decided_by=decider, decided_at=now, upheld=upheld, decision_note=note)
        )
        case = case_from_row(row, rules)
        action = "appeal_upheld" if upheld else "appeal_refused"
        store_transition(conn, case_id, case, case, action, decider, note, now, rules)
        return read(conn, case_id) or {}


def read(conn: Connection, case_id: uuid.UUID) -> dict[str, Any] | None:
    """The appeal of a case, if any."""
    row = conn.execute(select(appeal).where(appeal.c.case_id == case_id)).one_or_none()
    return None if row is None else dict(row._mapping)


_LIST = f"""
SELECT a.*, c.category, c.grid_code, c.due_at, c.resolved_at, c.closed_at, c.department FROM appeal a
JOIN "case" c ON c.id = a.case_id
WHERE {IN_AREA}
  AND (CAST(:pending AS boolean) IS NULL OR (a.decided_at IS NULL) = :pending)
ORDER BY a.asked_at
LIMIT :limit
"""


def listed(conn: Connection, area: str, pending: bool | None, limit: int) -> list[dict[str, Any]]:
    """Appeals on cases of ``area``, oldest first; ``pending`` narrows to undecided (True) or decided (False)."""
    rows = conn.execute(text(_LIST), {"prefix": area + "%", "pending": pending, "limit": limit}).all()
    return [dict(r._mapping) for r in rows]
