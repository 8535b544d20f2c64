"""How cases are read for people: the one column list of a case, its JSON, its history, queues and pages of them.

``CASE_COLUMNS`` is what the loop reads of a case (``cases.store.loop_cases``) and what the API shows
of one; ``OVERDUE_SQL`` and ``QUEUES`` are the SQL the lists and the workbench's queues filter by.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from cases.places import PLACE_SQL
from db.tables import CASE_LIST_ORDER

CASE_COLUMNS = (
    "id", "kind", "category", "condition", "component", "sla_class", "state", "level", "grid_code",
    "community_code", "street_code", "district_code", "special_code", "opened_at", "deadline", "closed_at",
    "paused_at", "pause_kind", "reworks", "escalations", "overdue", "department", "closed_on_time", "assignee",
    "request_kind", "request_by", "request_length", "extensions", "suspensions", "paused_until", "merged_into",
    "dispatched_from", "number", "unit",
)  # fmt: skip
# The columns as SQL on ``"case" c``, with where the case lies (``place``: for the scope checks).
CASE_FIELDS = ", ".join(f"c.{name}" for name in CASE_COLUMNS) + f", {PLACE_SQL} AS place"
# A case past its deadline now (not paused), or one the clock has marked overdue: SQL on ``"case" c``.
OVERDUE_SQL = "(c.overdue OR (c.closed_at IS NULL AND c.paused_at IS NULL AND c.deadline <= :now))"
# The workbench's queues, as a grid centre names them, and which cases each holds.
# Every queue holds open cases only (an open case has no closed_at): the condition lets PostgreSQL read them
# through the open cases' partial indexes, not a year's cases (bench/read_side.py).
OPEN_CASE = "c.closed_at IS NULL"
QUEUES: dict[str, str] = {
    "intake": f"{OPEN_CASE} AND c.state = 'reported'",  # 待受理
    "dispatch": f"{OPEN_CASE} AND c.state = 'filed'",  # 待派遣
    "sign_in": f"{OPEN_CASE} AND c.state = 'dispatched'",  # 待签收: dispatched, to be signed for
    "in_hand": f"{OPEN_CASE} AND c.state = 'in_progress'",  # 处置中
    "verify": f"{OPEN_CASE} AND c.state = 'resolved'",  # 待核查
    "requests": f"{OPEN_CASE} AND c.request_kind IS NOT NULL",  # 延期/挂账申请
    "overdue": f"{OPEN_CASE} AND c.state NOT IN ('refused', 'voided', 'merged') AND {OVERDUE_SQL}",  # 已超期
}
_HISTORY = """
SELECT t.case_id::text AS case_id,
       t.seq, t.action, t.actor, u.display_name AS actor_name, u.role AS actor_role, t.note, t.at, t.from_state,
       t.to_state, t.from_level, t.to_level, t.deadline
FROM case_transition t LEFT JOIN app_user u ON u.username = t.actor
WHERE t.case_id = ANY(:ids) ORDER BY t.case_id, t.seq
"""


def holder(case: dict[str, Any]) -> str:
    """Who holds the case, as a level: its own, or for a case in a coverage gap the area that holds it.

    A gap case is held by the most precise area that holds its point (``district``: the district's intake).
    """
    if case["grid_code"] or case["level"] == "department":
        return str(case["level"])
    for level, code in (("community", "community_code"), ("street", "street_code")):
        if case[code]:
            return level
    return "district"


def case_json(row: Any, now: datetime) -> dict[str, Any]:
    """A case row as the API sends it, with ``overdue_now`` (past its deadline and not paused, at ``now``)."""
    case = dict(row._mapping)
    case.pop("place", None)
    case.pop("total", None)  # the count a page was read with (cases.search)
    case["id"] = str(case["id"])
    case["holder"] = holder(case)
    case["overdue_now"] = (
        bool(
            case["closed_at"] is None
            and case["paused_at"] is None
            and case["deadline"] is not None
            and case["deadline"] <= now
        )
        or case["overdue"]
    )
    return case


def case_row(conn: Connection, case_id: uuid.UUID) -> Any:
    """The case's row of ``CASE_FIELDS``, or None."""
    return conn.execute(text(f'SELECT {CASE_FIELDS} FROM "case" c WHERE c.id = :id'), {"id": case_id}).one_or_none()


def case_history(conn: Connection, case_id: uuid.UUID) -> list[dict[str, Any]]:
    """The case's transitions in order."""
    return case_histories(conn, [case_id]).get(str(case_id), [])


def case_histories(conn: Connection, case_ids: list[uuid.UUID]) -> dict[str, list[dict[str, Any]]]:
    """Each case's transitions in order, by id (a case with none is left out)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for h in conn.execute(text(_HISTORY), {"ids": case_ids}).mappings().all():
        found.setdefault(h["case_id"], []).append({k: v for k, v in h.items() if k != "case_id"})
    return found


def display_names(conn: Connection, usernames: list[str]) -> dict[str, str]:
    """The names people read for these logins (those that have one)."""
    rows = conn.execute(
        text("SELECT username, display_name FROM app_user WHERE username = ANY(:u) AND display_name IS NOT NULL"),
        {"u": usernames},
    ).all()
    return {r.username: r.display_name for r in rows}


COUNT_CAP = 10_000  # a list counts its cases up to this; past it, ``total_exact`` is false
LIST_ORDER = re.sub(r"\b(closed_at|deadline|id)\b", r"c.\1", CASE_LIST_ORDER)
AFTER_RE = re.compile(r"^(?P<closed>[01])\.(?P<deadline>\d{1,16}|inf)\.(?P<id>[0-9a-f]{32})$")


def list_key(row: Any) -> str:
    """The ``after`` key of a listed case: the list's order (closed, deadline, id), as text."""
    deadline = "inf" if row.deadline is None else str(int(row.deadline.timestamp() * 1_000_000))
    return f"{int(row.closed_at is not None)}.{deadline}.{row.id.hex}"


def key_params(after: str) -> dict[str, Any] | None:
    """The query parameters of an ``after`` key (None when it is not one)."""
    found = AFTER_RE.fullmatch(after)
    if found is None:
        return None
    micros = found["deadline"]
    return {
        "k_closed": found["closed"] == "1",
        "k_deadline": None if micros == "inf" else _from_micros(int(micros)),  # none: 'infinity' in the SQL
        "k_id": uuid.UUID(found["id"]),
    }


def _from_micros(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def select_keyset(
    engine: Engine, fields: str, where: list[str], params: dict[str, Any], after: dict[str, Any] | None
) -> tuple[int, bool, list[Any]]:
    """Cases in the list's order after the key ``after`` (from the first without), ``params["limit"]`` of them.

    The count reads at most ``COUNT_CAP`` + 1 cases: (count, whether it is exact, the page).
    """
    clause = " AND ".join(where)
    keyed = clause
    if after is not None:
        keyed += f" AND ({LIST_ORDER}) > (:k_closed, coalesce(:k_deadline, 'infinity'::timestamptz), :k_id)"
        params = params | after
    with engine.connect() as conn:
        counted = conn.execute(
            text(f'SELECT count(*) FROM (SELECT 1 FROM "case" c WHERE {clause} LIMIT {COUNT_CAP + 1}) n'), params
        ).scalar_one()
        rows = conn.execute(
            text(f'SELECT {fields} FROM "case" c WHERE {keyed} ORDER BY {LIST_ORDER} LIMIT :limit'), params
        ).all()
    return min(int(counted), COUNT_CAP), counted <= COUNT_CAP, list(rows)


def select_page(
    engine: Engine, fields: str, source: str, where: list[str], order: str, params: dict[str, Any]
) -> tuple[int, list[Any]]:
    """How many rows match, and the page of them that ``params`` ``limit``/``offset`` select."""
    clause = " AND ".join(where)
    with engine.connect() as conn:
        total = conn.execute(text(f"SELECT count(*) FROM {source} WHERE {clause}"), params).scalar_one()
        rows = conn.execute(
            text(f"SELECT {fields} FROM {source} WHERE {clause} ORDER BY {order} LIMIT :limit OFFSET :offset"), params
        ).all()
    return int(total), list(rows)
