"""The clock's jobs on stored cases: start clocks, escalate breaches, flag unpatrolled grids."""

from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from cases.loop import Action, apply, breached
from cases.rules import Level, Rules
from cases.store import case_from_row, loop_cases, store_transition
from db.tables import case as case_table


def start_clocks(engine: Engine, rules: Rules, limit: int = 1000) -> int:
    """Give new cases their grid-level deadline, counted from when they were received; oldest first."""
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                'SELECT id, category, opened_at FROM "case" WHERE deadline IS NULL AND closed_at IS NULL'
                " ORDER BY opened_at LIMIT :limit FOR UPDATE SKIP LOCKED"
            ),
            {"limit": limit},
        ).all()
        for row in rows:
            conn.execute(
                text('UPDATE "case" SET deadline = :d WHERE id = :id'),
                {"d": rules.deadline(row.category, Level.GRID, row.opened_at), "id": row.id},
            )
    return len(rows)


def escalate_breaches(engine: Engine, rules: Rules, now: datetime, limit: int = 200) -> int:
    """Escalate every open case past its deadline, one level per missed deadline, each recorded once.

    Rows are locked with SKIP LOCKED, so engines running side by side never take the
    same case; a unique index on (case, level reached) backs that up.
    """
    moved = 0
    with engine.begin() as conn:
        c = case_table.c
        rows = conn.execute(
            loop_cases()
            .where(c.closed_at.is_(None), c.paused_at.is_(None), ~c.overdue, c.deadline <= now)
            .order_by(c.deadline)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            case = case_from_row(row)
            while breached(case, now):
                after = apply(case, Action.AUTO_ESCALATE, now, rules)
                action = Action.AUTO_ESCALATE.value if after.level is not case.level else "overdue"
                assert case.deadline is not None
                store_transition(
                    conn,
                    row.id,
                    case,
                    after,
                    action,
                    "sla-clock",
                    f"deadline {case.deadline.isoformat()} passed",
                    case.deadline,
                    rules,
                )
                case = after
                moved += 1
    return moved


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
