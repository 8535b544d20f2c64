"""The workbench's pages: the queues (``/work``), one case, and the monthly report to print.

The case page offers what ``GET /v1/cases/{id}/actions`` allows and posts transitions with the token it
was served with (the cookie alone never changes anything).
"""

from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.auth import COOKIE, PrincipalDep, authorize, page_csrf
from api.cases import case_actions, read_case
from api.deps import EngineDep, RulesDep, SettingsDep
from api.errors import responses
from api.photos import photo_list
from api.reports import AreaParam, Lang, MonthParam, read_report
from api.settings import Settings
from cases.categories import category_names, default_categories
from cases.reads import QUEUES, display_names
from geo.areas import area_feature
from web.workbench import case_page, report_page, work_page

router = APIRouter(tags=["pages"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503))


def _csrf(request: Request, settings: Settings) -> str:
    """The page's CSRF value for its writes with the cookie (pages are served only to a signed-in caller)."""
    return page_csrf(settings.api.secret_key, request.cookies.get(COOKIE, ""))


@router.get("/work", response_class=HTMLResponse)
def get_work(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    rules: RulesDep,
    lang: Lang = "zh",
) -> str:
    """The workbench: queues with counts, filters, and several cases dispatched at once."""
    groups = sorted({(c.group, c.group_name) for c in default_categories().values()})
    with engine.connect() as conn:
        shown = display_names(conn, [principal.username]).get(principal.username, principal.username)
    return work_page(
        (principal.username, shown),
        principal.role.value,
        _csrf(request, settings),
        tuple(QUEUES),
        groups,
        category_names(lang),
        str(rules.calendar.tz),
        lang,
    )


@router.get("/work/cases/{case_id}", response_class=HTMLResponse)
def get_case_page(
    case_id: UUID,
    request: Request,
    engine: EngineDep,
    rules: RulesDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    lang: Lang = "zh",
) -> str:
    """One case: where it is, its photos, its stage deadlines, its history, and the actions open to you."""
    case = read_case(engine, case_id, principal)
    tz = rules.calendar.tz
    for entry in case["history"]:
        entry["at"] = entry["at"].astimezone(tz)
        entry["deadline"] = entry["deadline"].astimezone(tz) if entry["deadline"] else None
    if case["deadline"]:
        case["deadline"] = f"{case['deadline'].astimezone(tz):%Y-%m-%d %H:%M}"
    with engine.connect() as conn:
        grid = area_feature(conn, case["grid_code"]) if case["grid_code"] else None
        if case["assignee"]:
            case["assignee_name"] = display_names(conn, [case["assignee"]]).get(case["assignee"], case["assignee"])
        place = conn.execute(
            text("SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, description FROM event WHERE id = :id"), {"id": case_id}
        ).one()
    names = category_names(lang)
    return case_page(
        case | {"lon": place.lon, "lat": place.lat, "description": place.description},
        grid,
        names.get(case["category"], case["category"]),
        photo_list(engine, case_id, principal),
        case_actions(engine, case_id, principal, rules)["actions"],
        _csrf(request, settings),
        lang,
    )


@router.get("/work/reports/monthly", response_class=HTMLResponse, tags=["pages"])
def get_monthly_page(
    engine: EngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    settings: SettingsDep,
    area: AreaParam,
    month: MonthParam,
    lang: Lang = "zh",
) -> str:
    """The monthly assessment as a page to print (A4)."""
    with engine.connect() as conn:
        report = read_report(conn, principal, area, month, rules, settings)
    return report_page(report, rules.calendar.tz, lang)
