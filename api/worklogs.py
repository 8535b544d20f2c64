"""The daily work log of a gridworker and the weekly close-out of a community: read as JSON, exported as CSV."""

import csv
import io
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import Field
from sqlalchemy import Engine

from api.access import Principal, Role
from api.accounts import USERNAME, get_user
from api.auth import PrincipalDep, authorize
from api.bodies import WriteBody
from api.deps import EngineDep, ReadEngineDep, RulesDep
from api.errors import Refusal, problem, responses
from api.etags import json_answer
from api.indicators import FIRST_DAY, LAST_DAY
from cases.worklog import Week, daily_log, save_note, weekly_closeout
from db.cells import csv_value
from registers.free_text import masked
from streams.schema import FreeText

router = APIRouter(
    prefix="/v1", tags=["work logs"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503)
)
Format = Annotated[Literal["json", "csv"], Query(description="csv: a spreadsheet to file or print")]
Username = Annotated[str, Path(pattern=USERNAME)]
Day = Annotated[date, Path(ge=FIRST_DAY, le=LAST_DAY, description="A local day")]
AS_CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "JSON, or with format=csv a CSV file", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


def csv_file(name: str, header: list[str], rows: list[list[Any]]) -> Response:
    """``rows`` under ``header`` as a CSV download that Excel opens, no cell starting a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_value(v) for v in row] for row in rows)  # no cell starts a formula
    return Response(
        "\ufeff" + out.getvalue(),  # with a BOM, Excel opens the UTF-8 as such
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _may_read_log(engine: Engine, principal: Principal, username: str) -> None:
    """Your own log, or a gridworker's of your area; 404 otherwise."""
    if principal.username == username:
        return
    user = get_user(engine, username)
    if user is None or user.role is not Role.GRIDWORKER or not principal.sees_area(user.scope):
        raise Refusal("not_found.gridworker", user=username)


@router.get("/worklogs/{username}/{day}", responses=AS_CSV)
def get_worklog(
    username: Username, day: Day, engine: EngineDep, principal: PrincipalDep, rules: RulesDep, format: Format = "json"
) -> Any:
    """A gridworker's 每日工作日志: patrols, reports, visits and cases handled that day, with their note."""
    _may_read_log(engine, principal, username)
    with engine.connect() as conn:
        log = daily_log(conn, username, day, rules.calendar.tz)
    if format == "json":
        return log
    rows = [
        [e["occurred_at"].isoformat(), e["kind"], e["category"], e["id"], e["household"] or ""]
        for key in ("patrols", "reports", "visits")
        for e in log[key]
    ]
    rows += [[h["at"].isoformat(), h["action"], "", h["case_id"], h["note"]] for h in log["cases_handled"]]
    rows.sort(key=lambda r: str(r[0]))
    if log["note"]:
        rows.append(["", "note", "", "", log["note"]])
    return csv_file(f"worklog-{username}-{day}", ["at", "what", "category", "id", "detail"], rows)


class NoteIn(WriteBody):
    """The gridworker's own words on their day."""

    note: Annotated[str, Field(max_length=4000), *FreeText]


@router.put("/worklogs/{username}/{day}/note", status_code=204, responses=responses(400))
def put_note(username: Username, day: Day, body: NoteIn, engine: EngineDep, principal: PrincipalDep) -> Response:
    """Write your own note on your work log of a day (replaces the earlier one)."""
    if username != principal.username:
        raise Refusal("forbidden.own_log", user=principal.username)
    with engine.begin() as conn:
        save_note(conn, username, day, masked(body.note))  # personal numbers kept masked only
    return Response(status_code=204)


@router.get("/closeouts/{community}/{week}", responses=AS_CSV)
def get_closeout(
    community: Annotated[str, Path(pattern=r"^\d{12}$", description="Community code")],
    week: Annotated[str, Path(max_length=8, description="ISO week, 2026-W49")],
    engine: ReadEngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    format: Format = "json",
) -> Any:
    """A community's 每周办结反馈: the cases that ended in the ISO week (2026-W49), their outcomes, per reporter."""
    try:
        parsed = Week.parse(week)
    except ValueError as exc:
        raise Refusal("invalid_input.fields", [problem("week", "field.week", week=week)], n=1) from exc
    if not principal.sees_area(community):
        raise Refusal("not_found.community", code=community)
    with engine.connect() as conn:
        closeout = weekly_closeout(conn, community, parsed, rules, datetime.now(UTC))
    if format == "json":
        return json_answer(closeout)
    header = ["id", "category", "grid", "reporter", "opened_at", "ended_at", "state", "outcome", "reworks"]
    rows = [
        [
            c["id"],
            c["category_name"],
            c["grid_code"],
            c["reporter"],
            c["opened_at"].isoformat(),
            c["ended_at"].isoformat(),
            c["state"],
            c["outcome"],
            c["reworks"],
        ]
        for c in closeout["cases"]
    ]
    return csv_file(f"closeout-{community}-{week}", header, rows)
