"""The monthly assessment report (绩效通报): JSON or an Excel workbook (the printable page is ``api.pages.work``)."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.deps import ReadEngineDep, RulesDep, SettingsDep
from api.errors import Refusal, answer_language, responses
from cases.exchange import MAX_ROWS, TooMany, case_rows, to_csv
from cases.exchange import to_xlsx as exchange_xlsx
from cases.report import monthly_report, parse_month, to_xlsx
from cases.rules import Rules
from geo.levels import AREA_CODE
from web.templating import labels

router = APIRouter(dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AreaParam = Annotated[str, Query(pattern=AREA_CODE, description="Area code")]
MonthParam = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="The month, YYYY-MM (local)")]
Lang = Annotated[Literal["zh", "en"], Query(description="Language of the page")]


def read_report(conn: Connection, principal: Principal, area: str, month: str, rules: Rules, settings: Any) -> Any:
    """The monthly report of an area in the caller's scope; a bad month or an unknown area is the caller's error."""
    if not principal.sees_area(area):
        raise Refusal("not_found.area_yours", code=area)
    return monthly_report(conn, area, parse_month(month), rules, datetime.now(UTC), settings.grades())


@router.get(
    "/v1/reports/monthly",
    tags=["indicators"],
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def get_monthly(
    request: Request,
    engine: ReadEngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    settings: SettingsDep,
    area: AreaParam,
    month: MonthParam,
    format: Annotated[Literal["json", "xlsx"], Query(description="xlsx: the workbook to file or send")] = "json",
) -> Any:
    """The monthly assessment of an area in your scope: totals, children ranked and graded, units, gridworkers."""
    with engine.connect() as conn:
        report = read_report(conn, principal, area, month, rules, settings)
    if format == "json":
        return report
    name = f"gridgov-{area}-{month}.xlsx"
    return Response(
        to_xlsx(report, rules.calendar.tz, labels(answer_language(request))),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


DayParam = Annotated[date, Query(description="A local day, YYYY-MM-DD")]
MAX_EXPORT_DAYS = 366


@router.get(
    "/v1/exchange/cases",
    tags=["indicators"],
    responses={200: {"content": {XLSX: {}, "text/csv": {}}, "description": "The cases in the standard's fields"}},
)
def get_exchange(
    engine: ReadEngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    area: AreaParam,
    from_: Annotated[date, Query(alias="from", description="First local day (by when a case was reported)")],
    to: Annotated[date, Query(description="Last local day")],
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv (UTF-8, Excel opens it) or xlsx")] = "xlsx",
) -> Response:
    """The incidents of an area in your scope reported in a period, in the standard's case fields (交换).

    For the city's 城市运行管理服务平台 to take in: kind (部件/事件), 大类 and 小类 codes, filing condition,
    component identifier, grid, place, moments in the city's zone, unit, state. At most 366 days and
    200,000 cases an export (422 says which was passed: send a shorter period or a smaller area).
    """
    if not principal.sees_area(area):
        raise Refusal("not_found.area_yours", code=area)
    if to < from_ or (to - from_).days >= MAX_EXPORT_DAYS:
        raise Refusal("invalid_input.period", first=str(from_), last=str(to), most=MAX_EXPORT_DAYS)
    tz = rules.calendar.tz
    try:
        with engine.connect() as conn:
            rows = case_rows(conn, area, from_, to, tz)
    except TooMany:
        raise Refusal("invalid_input.too_many_cases", most=MAX_ROWS) from None
    name = f"gridgov-cases-{area}-{from_}-{to}.{format}"
    body, media = (exchange_xlsx(rows), XLSX) if format == "xlsx" else (to_csv(rows), "text/csv; charset=utf-8")
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
