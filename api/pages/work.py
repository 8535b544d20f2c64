"""The workbench's pages: the queues (``/work``), one case, and the monthly report to print.

The case page offers what ``GET /v1/cases/{id}/actions`` allows and posts transitions with the token it
was served with (the cookie alone never changes anything).
"""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.access import MAP_READERS, SUPERVISORS
from api.auth import COOKIE, PrincipalDep, authorize, page_csrf
from api.cases import case_actions, dispatch_choices, read_case
from api.components import COMPONENT_TILES
from api.deps import CaseIdDep, EngineDep, ReadEngineDep, RulesDep, SettingsDep
from api.errors import responses
from api.photos import photo_list
from api.reports import AreaParam, Lang, MonthParam, read_report
from api.settings import Settings
from cases.categories import category_names, default_categories, rule_key
from cases.limits import RulesError
from cases.loop import Action
from cases.reads import QUEUES, display_names
from cases.routing import known_units
from cases.rules import Rules
from db.register_tables import COMPONENT_STATUSES
from geo.areas import area_feature
from web.workbench import case_page, report_page, work_page

router = APIRouter(tags=["pages"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503))


def csrf_of(request: Request, settings: Settings) -> str:
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
        csrf_of(request, settings),
        tuple(QUEUES),
        groups,
        category_names(lang),
        dispatch_choices(engine, principal, None, None) if principal.may_take(Action.DISPATCH) else [],
        str(rules.calendar.tz),
        lang,
    )


@router.get("/work/cases/{case_id}", response_class=HTMLResponse)
def get_case_page(
    case_id: CaseIdDep,
    request: Request,
    engine: EngineDep,
    rules: RulesDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    lang: Lang = "zh",
) -> str:
    """One case: where it is, its photos, its stage deadlines, its history, and the actions open to you."""
    case = read_case(engine, case_id, principal)
    photos = photo_list(engine, case_id, principal)
    with engine.connect() as conn:
        grid = area_feature(conn, case["grid_code"]) if case["grid_code"] else None
        place = conn.execute(
            text(
                "SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, description, reporter, received_at FROM event"
                " WHERE id = :id"
            ),
            {"id": case_id},
        ).one()
        people = [place.reporter, case["assignee"], case["request_by"], *(p["uploaded_by"] for p in photos)]
        names = display_names(conn, [p for p in people if p])
        role = conn.execute(text("SELECT role FROM app_user WHERE username = :u"), {"u": place.reporter}).scalar()
    shown = _as_read(case, place, names, rules)
    condition = default_categories()[case["category"]].condition(case["condition"])
    shown["condition_text"] = f"{condition.number} {condition.text}" if condition else None  # words, not a number
    shown["reported"]["role"] = role
    actions = case_actions(engine, case_id, principal, rules)["actions"]
    staff = []
    if any(a["action"] == "dispatch" for a in actions):
        unit = case["unit"] or rules.department(rule_key(case["category"], case["condition"]))
        staff = dispatch_choices(engine, principal, case["grid_code"], unit)
    return case_page(
        shown,
        grid,
        category_names(lang).get(case["category"], case["category"]),
        [p | {"uploaded_by": names.get(p["uploaded_by"], p["uploaded_by"])} for p in photos],
        actions,
        staff,
        csrf_of(request, settings),
        lang,
        components=COMPONENT_TILES + case["grid_code"] if principal.role in MAP_READERS and case["grid_code"] else None,
        component_statuses=COMPONENT_STATUSES,
        units=_units(engine, rules) if principal.role in SUPERVISORS and case["closed_at"] is None else None,
    )


def _units(engine: Any, rules: Rules) -> list[str]:
    with engine.connect() as conn:
        return known_units(conn, rules)


def _as_read(case: dict[str, Any], place: Any, names: dict[str, str], rules: Rules) -> dict[str, Any]:
    """The case as its page shows it: local times, people by name, the report first, what a request asks.

    The report is the first entry of its history; a pending extension shows the deadline it would give.
    """
    tz = rules.calendar.tz
    for entry in case["history"]:
        entry["at"] = entry["at"].astimezone(tz)
        entry["deadline"] = entry["deadline"].astimezone(tz) if entry["deadline"] else None
    reported = {"at": place.received_at.astimezone(tz), "actor": place.reporter, "name": names.get(place.reporter)}
    asked = None
    if case["request_kind"] and case["request_length"]:
        asked = {"kind": case["request_kind"], "length": case["request_length"], "by": case["request_by"]}
        asked["by_name"] = names.get(case["request_by"] or "", case["request_by"])
        if case["request_kind"] == "extension" and case["deadline"]:
            try:
                limit = rules.parse_length(rule_key(case["category"], case["condition"]), case["request_length"])
            except RulesError:  # the rules changed since it was asked: the length alone is shown
                limit = None
            if limit is not None:
                later = rules.after(rule_key(case["category"], case["condition"]), case["deadline"], limit)
                asked["deadline"] = f"{later.astimezone(tz):%Y-%m-%d %H:%M}"
    deadline = f"{case['deadline'].astimezone(tz):%Y-%m-%d %H:%M}" if case["deadline"] else None
    return case | {
        "deadline": deadline,
        "assignee_name": names.get(case["assignee"] or "", case["assignee"]),
        "reported": reported,
        "asked": asked,
        "lon": place.lon,
        "lat": place.lat,
        "description": place.description,
    }


@router.get("/work/reports/monthly", response_class=HTMLResponse, tags=["pages"])
def get_monthly_page(
    engine: ReadEngineDep,
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
