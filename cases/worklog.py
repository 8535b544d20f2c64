"""The gridworker's daily work log (每日工作日志) and the community's weekly close-out (每周办结反馈).

A day and a week are local (the working calendar's time zone); a week runs Monday to Sunday and is
named as ISO 8601 does (2026-W49).
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from cases.categories import default_categories
from cases.indicators import case_figures
from cases.rules import Rules
from db.partitions import case_report
from db.tables import ENDED_STATES

_EVENTS = """
SELECT e.id::text AS id, e.kind, e.category, e.occurred_at, e.grid_code, e.household, c.state AS case_state
FROM event e LEFT JOIN "case" c ON c.id = e.id
WHERE e.reporter = :who AND e.occurred_at >= :from AND e.occurred_at < :to
ORDER BY e.occurred_at
"""
_HANDLED = """
SELECT t.case_id::text AS case_id, t.action, t.at, t.to_state, t.note FROM case_transition t
WHERE t.actor = :who AND t.at >= :from AND t.at < :to
ORDER BY t.at, t.id
"""
_ENDED = f"""
SELECT c.id::text AS id, c.category, c.grid_code, e.reporter, e.description, c.opened_at, t.at AS ended_at,
       t.to_state AS state, t.note, c.closed_on_time, c.reworks, c.merged_into::text AS merged_into
FROM case_transition t JOIN "case" c ON c.id = t.case_id {case_report()}
WHERE t.to_state IN {ENDED_STATES} AND t.at >= :from AND t.at < :to
  AND coalesce(c.grid_code, c.community_code) LIKE :prefix
ORDER BY t.at, c.id
"""
KINDS = ("patrol", "incident", "visit", "request")
# The week's indicators a close-out repeats (the same numbers as GET /v1/indicators for the week).
CLOSEOUT_FIGURES = ("due", "closed", "closed_on_time", "overdue", "closure_rate", "on_time_closure_rate")


def _span(first: date, days: int, tz: ZoneInfo) -> dict[str, datetime]:
    start = datetime.combine(first, datetime.min.time(), tz)
    return {"from": start, "to": start + timedelta(days=days)}


def daily_log(conn: Connection, username: str, day: date, tz: ZoneInfo) -> dict[str, Any]:
    """What ``username`` did on ``day``: their events by kind, the case actions they took, and their note."""
    params = {"who": username, **_span(day, 1, tz)}
    events = [dict(r._mapping) for r in conn.execute(text(_EVENTS), params)]
    handled = [dict(r._mapping) for r in conn.execute(text(_HANDLED), params)]
    note = conn.execute(
        text("SELECT note FROM work_note WHERE username = :who AND day = :day"), {"who": username, "day": day}
    ).scalar_one_or_none()
    by_kind = {kind: [e for e in events if e["kind"] == kind] for kind in KINDS}
    return {
        "username": username,
        "day": day,
        "counts": {
            "patrols": len(by_kind["patrol"]),
            "reports": len(by_kind["incident"]),
            "visits": len(by_kind["visit"]),
            "cases_handled": len({h["case_id"] for h in handled}),
        },
        "patrols": by_kind["patrol"],
        "reports": by_kind["incident"],
        "visits": by_kind["visit"],
        "cases_handled": handled,
        "note": note or "",
    }


def save_note(conn: Connection, username: str, day: date, note: str) -> None:
    """Set the gridworker's own note of the day."""
    conn.execute(
        text(
            "INSERT INTO work_note (username, day, note) VALUES (:who, :day, :note)"
            " ON CONFLICT (username, day) DO UPDATE SET note = :note, updated_at = now()"
        ),
        {"who": username, "day": day, "note": note},
    )


@dataclass(frozen=True)
class Week:
    """An ISO week: its name (2026-W49) and its Monday."""

    name: str
    monday: date

    @classmethod
    def parse(cls, name: str) -> "Week":
        """``ValueError`` unless ``name`` is YYYY-Www of a real week."""
        match = re.fullmatch(r"(20\d\d)-W(\d\d)", name)
        try:
            if match is None:
                raise ValueError(name)
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise ValueError(f"a week is written YYYY-Www (2026-W49, years 2000-2099), not {name!r}") from None
        return cls(name, monday)


def outcome(case: dict[str, Any]) -> str:
    """What became of a case, in words for its reporter."""
    if case["state"] == "closed":
        timing = "按期办结 closed on time" if case["closed_on_time"] else "超期办结 closed late"
        return f"{timing}: {case['note']}" if case["note"] else timing
    if case["state"] == "merged":
        return f"合并处理 merged into case {case['merged_into']}"
    word = "不予立案 not taken up" if case["state"] == "refused" else "作废 voided"
    return f"{word}: {case['note']}"


def weekly_closeout(conn: Connection, community: str, week: Week, rules: Rules, now: datetime) -> dict[str, Any]:
    """The cases of ``community`` that ended in ``week``, each with its outcome, and each reporter's own list.

    The counts are the week's indicators (the one definition: ``cases.indicators``, its case figures
    read alone), and ``ended`` the cases listed.
    """
    tz = rules.calendar.tz
    rows = conn.execute(text(_ENDED), {"prefix": community + "%", **_span(week.monday, 7, tz)}).all()
    names = default_categories()
    cases = []
    for row in rows:
        case = dict(row._mapping)
        category = names.get(case["category"])
        case["category_name"] = category.name if category else case["category"]
        case["outcome"] = outcome(case)
        cases.append(case)
    figures = case_figures(conn, community, week.monday, week.monday + timedelta(days=6), rules, now)
    reporters: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        reporters.setdefault(case["reporter"], []).append({"id": case["id"], "outcome": case["outcome"]})
    return {
        "community": community,
        "week": week.name,
        "from": week.monday,
        "to": week.monday + timedelta(days=6),
        "counts": {"ended": len(cases)} | {key: figures[key] for key in CLOSEOUT_FIGURES},
        "cases": cases,
        "feedback": [{"reporter": who, "cases": theirs} for who, theirs in sorted(reporters.items())],
    }
