"""The monthly assessment report (绩效通报): JSON or an Excel workbook (the printable page is ``api.pages.work``)."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.deps import ReadEngineDep, RulesDep, SettingsDep
from api.errors import Refusal, answer_language, responses
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
