"""Cases in the standard's fields for the city platform: CSV and XLSX of an area and period, values by hand."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.exchange import COLUMNS
from cases.rules import load_rules
from cases.store import loop_cases, take_in
from db.tables import case as case_table
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event

G = 312  # a demo grid no other test uses
# 3 March 2026, 01:30 UTC: 09:30 in the city (UTC+8), a working Tuesday
AT = datetime(2026, 3, 3, 1, 30, tzinfo=UTC)


@pytest.fixture
def cases(demo_city: Engine) -> Iterator[tuple[str, str]]:
    code, lon, lat = grid_point(demo_city, G)
    lamp = f"{code[:6]}0116{code[-6:]}"
    made = []
    for body in (
        event_body(
            lon, lat, category="BJ0116", condition="1", component=lamp, reporter="ex-gw", description="路灯不亮"
        ),
        event_body(lon, lat, category="0507", reporter="ex-gw", description="门口堆放建材"),
    ):
        case_id = write_event(demo_city, body, AT)
        with demo_city.begin() as conn:
            take_in(conn, conn.execute(loop_cases().where(case_table.c.id == case_id)).one(), load_rules())
        made.append(case_id)
    yield code, lamp
    with demo_city.begin() as conn:
        for table, key in (("case_transition", "case_id"), ('"case"', "id"), ("event", "id")):
            conn.execute(text(f"DELETE FROM {table} WHERE {key} = ANY(:ids)"), {"ids": made})


def test_the_cases_of_a_period_come_in_the_standards_fields(
    demo_city: Engine, settings: Settings, sign_in: SignIn, cases: tuple[str, str]
) -> None:
    grid, lamp = cases
    headers = sign_in("ex-district", Role.DISTRICT, grid[:6])
    query = {"area": grid, "from": "2026-03-03", "to": "2026-03-03"}
    with TestClient(create_app(settings)) as client:
        answer = client.get("/v1/exchange/cases", params=query | {"format": "csv"}, headers=headers)
        book = client.get("/v1/exchange/cases", params=query, headers=headers)
        before = client.get("/v1/exchange/cases", params=query | {"to": "2026-03-02"}, headers=headers)
        other = client.get("/v1/exchange/cases", params=query | {"area": "320102"}, headers=headers)
        none = client.get(
            "/v1/exchange/cases",
            params=query | {"from": "2026-03-04", "to": "2026-03-05", "format": "csv"},
            headers=headers,
        )
    assert answer.status_code == 200 and answer.content.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS
    lamp_row, pile = rows  # in the order reported (the same moment: by number)
    assert {
        k: lamp_row[k] for k in ("案件类型", "大类代码", "大类名称", "小类代码", "小类名称", "立案条件", "部件标识码")
    } == {
        "案件类型": "部件",
        "大类代码": "01",
        "大类名称": "公用设施",
        "小类代码": "0116",
        "小类名称": "路灯",
        "立案条件": "1 路灯不亮或亮灯率不达标",
        "部件标识码": lamp,
    }
    assert (lamp_row["上报时间"], lamp_row["单元网格码"], lamp_row["处置单位"]) == (
        "2026-03-03 09:30:00",
        grid,
        "区路灯管理所",
    )
    assert (pile["案件类型"], pile["大类代码"], pile["小类代码"], pile["小类名称"]) == (
        "事件",
        "05",
        "0507",
        "乱堆物堆料",
    )
    assert (
        pile["部件标识码"] == "" and pile["问题描述"] == "门口堆放建材" and pile["案件状态"] == "处置中"
    )  # on the spot
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None and [c.value for c in sheet[1]] == list(COLUMNS) and sheet.max_row == 3
    assert before.status_code == 422 and other.status_code == 404
    assert none.status_code == 200 and len(list(csv.reader(io.StringIO(none.content.decode("utf-8-sig"))))) == 1
