"""The workbench's data (``/v1/work/…``): the queues of supervisors and departments with counts, and their news.

The pages themselves are ``api.pages.work``.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import text

from api.access import Principal, Role
from api.auth import PrincipalDep, authorize
from api.deps import EngineDep, LiveDep, RulesDep
from api.errors import Refusal, responses
from api.live import event_stream
from cases.categories import default_categories, rule_key
from cases.places import PLACE_SQL
from cases.reads import CASE_FIELDS, OPEN_CASE, OVERDUE_SQL, QUEUES, case_json, select_page
from cases.rules import Level, Rules
from cases.search import MAX_CHARS, MIN_CHARS, find_cases, row_details
from geo.levels import AREA_CODE

router = APIRouter(tags=["workbench"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503))
Tab = Literal["intake", "dispatch", "sign_in", "in_hand", "verify", "requests", "overdue"]
PAGE = 50


def queue_counts(engine: Any, principal: Principal, now: datetime) -> dict[str, int]:
    """How many cases of the caller's scope each queue holds now."""
    scope_sql, scope_params = principal.case_filter()
    params: dict[str, Any] = dict(scope_params)
    counts = ", ".join(f"count(*) FILTER (WHERE {where}) AS {tab}" for tab, where in QUEUES.items())
    with engine.connect() as conn:
        row = conn.execute(
            text(f'SELECT {counts} FROM "case" c WHERE {scope_sql} AND {OPEN_CASE}'), params | {"now": now}
        ).one()
    return {tab: int(n) for tab, n in row._mapping.items()}


def remaining(rules: Rules, category: str, deadline: datetime | None, now: datetime) -> float | None:
    """Seconds left until ``deadline`` on the case's own clock (working or calendar); negative when past."""
    if deadline is None:
        return None
    if deadline >= now:
        return rules.elapsed(category, now, deadline).total_seconds()
    return -rules.elapsed(category, deadline, now).total_seconds()


@router.get("/v1/work/queue")
def get_queue(
    engine: EngineDep,
    rules: RulesDep,
    principal: PrincipalDep,
    tab: Tab = "intake",
    level: Level | None = None,
    group: Annotated[
        str | None, Query(pattern=r"^[a-z0-9_]{1,40}$", description="Category group (大类): sj01 …, bj01 …")
    ] = None,
    grid: Annotated[str | None, Query(pattern=AREA_CODE, description="Grid or area code")] = None,
    overdue: bool | None = None,
    due_within_h: Annotated[float | None, Query(gt=0, le=24 * 366, description="Due within this many hours")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """One queue of the caller's cases, soonest deadline first, with the count of every queue.

    Each case has ``remaining_s``: the time left to its deadline on its own clock (working time for a
    working-clock category), negative when it has passed.
    """
    now = datetime.now(UTC)
    scope_sql, scope_params = principal.case_filter()
    where = [scope_sql, QUEUES[tab]]
    params: dict[str, Any] = scope_params | {"now": now, "limit": limit, "offset": offset}
    if level:
        where.append("c.level = :level")
        params["level"] = level.value
    if group:
        where.append("c.category = ANY(:codes)")
        params["codes"] = [c.code for c in default_categories().values() if c.group == group]
    if grid:
        where.append(f"{PLACE_SQL} LIKE :grid")
        params["grid"] = grid + "%"
    if overdue is not None:
        where.append(OVERDUE_SQL if overdue else f"NOT {OVERDUE_SQL}")
    if due_within_h:
        where.append("c.deadline <= :soon")
        params["soon"] = now + timedelta(hours=due_within_h)
    total, rows = select_page(engine, CASE_FIELDS, '"case" c', where, "c.deadline NULLS LAST, c.id", params)
    return {
        "tab": tab,
        "total": total,
        "counts": queue_counts(engine, principal, now),
        "cases": _rows(engine, rules, rows, now),
    }


@router.get("/v1/work/search")
def get_search(
    engine: EngineDep,
    rules: RulesDep,
    principal: PrincipalDep,
    q: Annotated[
        str,
        Query(
            min_length=MIN_CHARS,
            max_length=MAX_CHARS,
            description="A case number or part of one, words of the report, an address (a building's name),"
            " a reporter's name or login, a grid's or community's name or code",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """The cases of your scope that the words find, newest first, each row as a queue's.

    A whole case number finds its case at once. Numbers and report words are found by PostgreSQL's
    trigram index: any part of three characters or more is indexed, two characters are found too, more
    slowly. An address finds the cases within 100 m of the register's buildings of that name.
    """
    words = q.strip()
    if len(words) < MIN_CHARS:
        raise Refusal("invalid_input.search_short", least=MIN_CHARS)
    total, exact, rows = find_cases(engine, words, principal.case_filter(), limit, offset)
    return {"q": words, "total": total, "total_exact": exact, "cases": _rows(engine, rules, rows, datetime.now(UTC))}


def _rows(engine: Any, rules: Rules, rows: list[Any], now: datetime) -> list[dict[str, Any]]:
    """Listed cases as the workbench shows them: their columns, time left, and what their row says of them."""
    with engine.connect() as conn:
        details = row_details(conn, [r.id for r in rows])
    return [
        case_json(r, now)
        | {"remaining_s": remaining(rules, rule_key(r.category, r.condition), r.deadline, now)}
        | details[str(r.id)]
        for r in rows
    ]


@router.get("/v1/work/live", response_class=StreamingResponse)
async def work_live(feed: LiveDep, principal: PrincipalDep) -> StreamingResponse:
    """Server-sent events that change your queues; the workbench reloads its list on each.

    A supervisor's: what happens in their area (reports, transitions, escalations). A department's: the
    transitions of its cases, wherever they lie.
    """
    if principal.role is Role.DEPARTMENT:
        return event_stream(feed, feed.subscribe("", department=principal.scope))
    return event_stream(feed, feed.subscribe(principal.area or ""))
