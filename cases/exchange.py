"""Cases in the standard's fields (GB/T 30428 案件), for a city platform to take in: CSV or XLSX, one period and area.

Each case one row, its columns named as the standard's case attributes are: number, kind (部件/事件), 大类 and
小类 codes and names, the filing condition, the component's identifier, the grid (单元网格) and its
community, street and district codes, the place (WGS84), the report's words (masked as stored), the
moments of report, filing, due and close in the city's zone, the unit, the state, and whether it closed on
time. The period is of local days, by the moment the case was reported.
"""

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import Connection, text

from cases.categories import default_categories
from cases.places import IN_AREA
from db.cells import csv_value, xlsx_row
from db.partitions import case_report

MAX_ROWS = 200_000  # one export: a big district's two months; a longer period is sent in parts
COLUMNS = (
    "案件编号", "案件类型", "大类代码", "大类名称", "小类代码", "小类名称", "立案条件", "部件标识码", "单元网格码",
    "社区代码", "街道代码", "区县代码", "经度", "纬度", "问题描述", "上报时间", "立案时间", "处置时限", "结案时间",
    "处置单位", "案件状态", "是否按期结案",
)  # fmt: skip
_ROWS = f"""
SELECT c.number, c.category, c.condition, c.component, c.grid_code, c.community_code, c.street_code, c.district_code,
       ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.description, c.opened_at, c.filed_at, c.due_at, c.closed_at,
       coalesce(c.unit, c.department) AS unit, c.state, c.closed_on_time
FROM "case" c {case_report()}
WHERE {IN_AREA} AND c.opened_at >= :start AND c.opened_at < :end AND c.kind = 'incident'
ORDER BY c.opened_at, c.number LIMIT :limit
"""
STATES = {
    "reported": "待受理", "filed": "已立案", "dispatched": "已派遣", "in_progress": "处置中", "resolved": "待核查",
    "closed": "已结案", "refused": "不予立案", "voided": "已作废", "merged": "已合并",
}  # fmt: skip


class TooMany(ValueError):
    """More cases than one export holds: the caller narrows the period or the area."""


def case_rows(conn: Connection, area: str, first: date, last: date, tz: ZoneInfo) -> list[list[Any]]:
    """The cases of ``area`` reported on local days ``first`` … ``last``, in ``COLUMNS`` order."""
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    params = {"prefix": area + "%", "start": start, "end": end, "limit": MAX_ROWS + 1}
    rows = conn.execute(text(_ROWS), params).all()
    if len(rows) > MAX_ROWS:
        raise TooMany(str(MAX_ROWS))
    return [_row(r, tz) for r in rows]


def _row(r: Any, tz: ZoneInfo) -> list[Any]:
    category = default_categories()[r.category]
    digits = category.standard_code
    condition = category.condition(r.condition)

    def moment(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    on_time = "" if r.closed_on_time is None else ("是" if r.closed_on_time else "否")
    return [
        r.number, "部件" if category.kind == "component" else "事件", digits[:2], category.group_name, digits,
        category.name, f"{condition.number} {condition.text}" if condition else "", r.component or "",
        r.grid_code or "", r.community_code or "", r.street_code or "", r.district_code or "",
        round(r.lon, 6), round(r.lat, 6), r.description, moment(r.opened_at), moment(r.filed_at),
        moment(r.due_at), moment(r.closed_at), r.unit or "", STATES.get(r.state, r.state), on_time,
    ]  # fmt: skip


def to_csv(rows: list[list[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, which Excel opens as Chinese; no cell read as a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows([csv_value(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[list[Any]]) -> bytes:
    """One sheet, 案件, the header then a row a case; text stays text."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("案件")
    sheet.append(xlsx_row(sheet, list(COLUMNS)))
    for row in rows:
        sheet.append(xlsx_row(sheet, row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
