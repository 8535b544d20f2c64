"""The monthly assessment report (绩效通报) of an area: its figures, its children ranked and graded, units, gridworkers.

Every number comes from ``cases.indicators`` (the one definition), read as of the month's end:
the same month gives the same report whenever it is produced, except where an appeal was
decided since (the report lists the appeals that changed it). Grades are data a city edits
(``cases/data/grades.yaml``, or ``GRIDGOV_GRADES_FILE``).
"""

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from sqlalchemy import Connection, text

from cases.categories import default_categories
from cases.errors import CaseError
from cases.indicators import (
    case_figures,
    case_figures_by_area,
    case_figures_of,
    indicators_by_area,
    ratio,
    working_days,
)
from cases.places import IN_AREA
from cases.rules import Rules
from db.cells import xlsx_row
from geo.areas import area_info, child_names

GRADES_FILE = Path(__file__).parent / "data" / "grades.yaml"
# The columns of every table of the report, in order: the figures of cases.indicators.case_figures.
FIGURES = (
    "received",
    "filed",
    "due",
    "closed",
    "closed_on_time",
    "closure_rate",
    "on_time_closure_rate",
    "rework_rate",
    "extension_rate",
    "overdue",
    "appeals_upheld",
)


class ReportError(CaseError, ValueError):
    """A month, an area or a grades file that cannot be read; the message key says what to write instead."""


@dataclass(frozen=True)
class Band:
    """A grade: the least value of the metric that earns it, its name and its colour."""

    minimum: float
    grade: str
    colour: str


@dataclass(frozen=True)
class Grades:
    """How the report grades: by which metric, in which bands (highest first)."""

    metric: str
    bands: tuple[Band, ...]

    def grade(self, value: float | None) -> Band | None:
        """The band a value earns (None: nothing to grade)."""
        if value is None:
            return None
        return next((b for b in self.bands if value >= b.minimum), self.bands[-1])


def load_grades(path: Path = GRADES_FILE) -> Grades:
    """Read and check a grades file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ReportError("invalid_input.grades_unreadable", path=str(path), why=str(exc)) from exc
    metric = data.get("metric", "on_time_closure_rate")
    if metric not in ("on_time_closure_rate", "closure_rate"):
        raise ReportError("invalid_input.grades_metric", path=str(path), metric=str(metric))
    try:
        bands = tuple(
            Band(float(b["min"]), str(b["grade"]), str(b.get("colour", "grey"))) for b in data.get("bands") or []
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError("invalid_input.grades_band", path=str(path), why=str(exc)) from exc
    if not bands or any(not 0 <= b.minimum <= 1 for b in bands):
        raise ReportError("invalid_input.grades_none", path=str(path))
    if [b.minimum for b in bands] != sorted((b.minimum for b in bands), reverse=True) or bands[-1].minimum != 0:
        raise ReportError("invalid_input.grades_order", path=str(path))
    return Grades(str(metric), bands)


def parse_month(value: str) -> date:
    """The first day of a month written YYYY-MM."""
    try:
        year, month = (int(part) for part in value.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise ReportError("invalid_input.month", month=value) from None
    if not 2000 <= first.year <= 2099:
        raise ReportError("invalid_input.month_year", month=value)
    return first


def month_end(first: date) -> date:
    """The last day of the month that begins on ``first``."""
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


_GRIDWORKERS = """
SELECT e.reporter AS gridworker, u.scope AS grid,
  count(*) FILTER (WHERE e.kind = 'incident') AS reports,
  count(*) FILTER (WHERE e.kind = 'incident' AND c.filed_at < :asof) AS filed,
  count(*) FILTER (WHERE e.kind = 'incident' AND c.sla_class = 'minor') AS minor,
  count(*) FILTER (WHERE e.kind = 'incident' AND c.sla_class = 'minor' AND c.state = 'closed'
                   AND c.closed_at < :asof AND c.level = 'grid' AND c.escalations = 0) AS minor_in_grid,
  count(*) FILTER (WHERE e.kind = 'visit') AS visits,
  array_agg(DISTINCT (e.occurred_at AT TIME ZONE :tz)::date) FILTER (WHERE e.kind = 'patrol') AS patrol_days
FROM event e
JOIN app_user u ON u.username = e.reporter AND u.role = 'gridworker'
LEFT JOIN "case" c ON c.id = e.id
WHERE u.scope LIKE :prefix AND e.occurred_at >= :from AND e.occurred_at < :to
GROUP BY e.reporter, u.scope
ORDER BY e.reporter
"""
_OVERDUE = f"""
SELECT c.id::text AS id, c.number, c.category, c.grid_code, c.level, c.department, c.due_at, c.resolved_at, c.closed_at
FROM "case" c LEFT JOIN appeal a ON a.case_id = c.id
WHERE {IN_AREA} AND c.counted_at >= :from AND c.counted_at < :to AND c.due_at <= :asof
  AND NOT (c.state = 'closed' AND c.closed_at < :asof
           AND (coalesce(c.resolved_at <= c.due_at, false) OR coalesce(a.upheld, false)))
ORDER BY c.due_at, c.id
LIMIT :limit
"""
_APPEALS = f"""
SELECT c.id::text AS id, c.number, a.appellant, a.decided_by, a.decided_at, a.reason FROM appeal a
JOIN "case" c ON c.id = a.case_id
WHERE {IN_AREA} AND a.upheld AND c.counted_at >= :from AND c.counted_at < :to
ORDER BY a.decided_at
"""
_UNITS = f"""
SELECT DISTINCT c.department FROM "case" c
WHERE {IN_AREA} AND c.department IS NOT NULL
  AND ((c.opened_at >= :from AND c.opened_at < :to) OR (c.counted_at >= :from AND c.counted_at < :to))
ORDER BY 1
"""
MAX_OVERDUE = 1000  # listed in a report; the counts hold them all


def monthly_report(
    conn: Connection, area: str, first: date, rules: Rules, now: datetime, grades: Grades
) -> dict[str, Any]:
    """The assessment of ``area`` for the month beginning ``first``, as of its end (or ``now``, if sooner)."""
    info = area_info(conn, area)
    if info is None:
        raise ReportError("not_found.area", code=area)
    last = month_end(first)
    previous = (first - timedelta(days=1)).replace(day=1)
    tz = rules.calendar.tz
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    params = {"prefix": area + "%", "from": start, "to": end, "asof": min(end, now), "tz": str(tz)}
    named = child_names(conn, area)
    codes = [code for code, _ in named]
    this_month = indicators_by_area(conn, area, codes, first, last, rules, now)
    # Last month only for the change of the rates: the case figures, not every indicator.
    length = len(codes[0]) if codes else len(area)
    last_month = case_figures_by_area(conn, area, length, previous, month_end(previous), rules, now, None)
    total, before = this_month[area], last_month.get(area) or case_figures_of(None)
    rework = {u["unit"]: u for u in total["units"]}

    def row(figures: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return extra | {k: figures.get(k) for k in FIGURES}

    children = []
    for code, name in named:
        now_figures, before_figures = this_month[code], last_month.get(code) or case_figures_of(None)
        band = grades.grade(now_figures[grades.metric])
        children.append(
            row(now_figures, code=code, name=name)
            | {
                "grade": band.grade if band else None,
                "colour": band.colour if band else None,
                "change": _change(now_figures, before_figures),
            }
        )
    ranked = sorted(children, key=lambda c: (c[grades.metric] is None, -(c[grades.metric] or 0), c["code"]))
    for rank, child in enumerate(ranked, 1):
        child["rank"] = rank
    units = []
    for (unit,) in conn.execute(text(_UNITS), params).all():
        figures = case_figures(conn, area, first, last, rules, now, unit=unit)
        sign = rework.get(unit, {})
        figures["rework_rate"] = sign.get("rework_rate")
        units.append(row(figures, unit=unit) | {"sign_in_on_time_rate": sign.get("sign_in_on_time_rate")})
    required = set(working_days(rules, first, last))
    gridworkers = [
        {
            "gridworker": g.gridworker,
            "grid": g.grid,
            "reports": g.reports,
            "filed": g.filed,
            "report_accuracy": ratio(g.filed, g.reports),
            "patrol_coverage": ratio(sum(d in required for d in g.patrol_days or []), len(required)),
            "visits": g.visits,
            "in_grid_closure_rate_minor": ratio(g.minor_in_grid, g.minor),
        }
        for g in conn.execute(text(_GRIDWORKERS), params).all()
    ]
    names = default_categories()
    overdue = [
        dict(r._mapping) | {"category_name": names[r.category].name if r.category in names else r.category}
        for r in conn.execute(text(_OVERDUE), params | {"limit": MAX_OVERDUE}).all()
    ]
    return {
        "area": area,
        "name": info[0],
        "month": first.strftime("%Y-%m"),
        "from": first,
        "to": last,
        "computed_at": now,
        "complete": now >= end,  # False: the month is not over, the figures are so far
        "grading": {"metric": grades.metric, "bands": [b.__dict__ for b in grades.bands]},
        "total": row(total) | {"change": _change(total, before)},
        "children": ranked,
        "units": units,
        "gridworkers": gridworkers,
        "overdue_cases": overdue,
        "appeals_upheld": [dict(r._mapping) for r in conn.execute(text(_APPEALS), params).all()],
    }


def _change(now: dict[str, Any], before: dict[str, Any]) -> dict[str, float | None]:
    """The rates' change from the previous month, in percentage points."""
    return {
        key: None if now[key] is None or before[key] is None else round((now[key] - before[key]) * 100, 2)
        for key in ("closure_rate", "on_time_closure_rate")
    }


# The report's sheets: title, the rows' key in the report, and the columns (key, heading), each title and
# heading by its key in the label catalogue of the reader's language (``to_xlsx`` is handed the labels).
_FIGURE_HEADINGS = {
    "received": "r_received",
    "filed": "r_filed",
    "due": "r_due",
    "closed": "r_closed",
    "closed_on_time": "r_closed_on_time",
    "closure_rate": "r_closure_rate",
    "on_time_closure_rate": "r_on_time_closure_rate",
    "rework_rate": "r_rework_rate",
    "extension_rate": "r_extension_rate",
    "overdue": "r_overdue_count",
    "appeals_upheld": "r_appeals_upheld",
}
SHEETS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "r_children",
        "children",
        (("rank", "r_rank"), ("code", "r_code"), ("name", "r_name"), *_FIGURE_HEADINGS.items(), ("grade", "r_grade")),
    ),
    (
        "r_units",
        "units",
        (("unit", "r_department"), *_FIGURE_HEADINGS.items(), ("sign_in_on_time_rate", "r_sign_in_rate")),
    ),
    (
        "r_gridworkers",
        "gridworkers",
        (
            ("gridworker", "r_gridworkers"),
            ("grid", "grid"),
            ("reports", "r_reports"),
            ("filed", "r_filed"),
            ("report_accuracy", "r_accuracy"),
            ("patrol_coverage", "r_patrol"),
            ("visits", "r_visits"),
            ("in_grid_closure_rate_minor", "r_in_grid"),
        ),
    ),
    (
        "r_overdue",
        "overdue_cases",
        (
            ("number", "case"),
            ("category_name", "category"),
            ("grid_code", "grid"),
            ("level", "level"),
            ("department", "r_department"),
            ("due_at", "r_due_at"),
            ("resolved_at", "r_resolved_at"),
            ("closed_at", "r_closed_at"),
        ),
    ),
)
RATES = {"closure_rate", "on_time_closure_rate", "rework_rate", "extension_rate", "sign_in_on_time_rate"}
RATES |= {"report_accuracy", "patrol_coverage", "in_grid_closure_rate_minor"}
_FILLS = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE"}


def _put(sheet: Any, values: list[Any]) -> None:
    """A row of the workbook; its text as string cells, never a formula (db.cells)."""
    sheet.append(xlsx_row(sheet, values))


def to_xlsx(report: dict[str, Any], tz: Any, words: Mapping[str, str]) -> bytes:
    """The report as an Excel workbook: a summary sheet, then one sheet per table. Times in the city's zone.

    ``words``: the label catalogue of the reader's language (titles, headings, levels in words).
    """
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = words["r_summary"]
    _put(summary, [f"{report['name']} {report['month']} {words['r_title']}"])
    summary["A1"].font = Font(bold=True, size=14)
    _put(summary, [words["r_area_code"], report["area"]])
    _put(summary, [words["r_period"], f"{report['from']} {words['r_to']} {report['to']}"])
    _put(summary, [words["r_computed"], _cell(report["computed_at"], tz)])
    _put(summary, [words["r_complete"], words["yes"] if report["complete"] else words["r_not_complete"]])
    summary.append([])
    for key, heading in _FIGURE_HEADINGS.items():
        _put(summary, [words[heading], _cell(report["total"][key], tz, rate=key in RATES)])
    change = f"{words['r_on_time_closure_rate']} {words['r_change']} ({words['r_points']})"
    _put(summary, [change, report["total"]["change"]["on_time_closure_rate"]])
    summary.append([])
    _put(summary, [words["r_appeals"], words["r_appellant"], words["r_decided_by"], words["r_decided_at"]])
    for appeal in report["appeals_upheld"]:
        _put(summary, [appeal["number"], appeal["appellant"], appeal["decided_by"], _cell(appeal["decided_at"], tz)])
    for title, key, columns in SHEETS:
        sheet = book.create_sheet(words[title])
        _put(sheet, [words[heading] for _, heading in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for item in report[key]:
            shown = item | ({"level": words.get(f"lv_{item['level']}", item["level"])} if "level" in item else {})
            _put(sheet, [_cell(shown.get(k), tz, rate=k in RATES) for k, _ in columns])
            colour = _FILLS.get(item.get("colour") or "")
            if colour:
                sheet.cell(sheet.max_row, len(columns)).fill = PatternFill("solid", fgColor=colour)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any, tz: Any, rate: bool = False) -> Any:
    """A value as a cell shows it: a rate as a percentage, a time in the city's zone to the minute."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if rate:
        return f"{value * 100:.2f}%"
    return value
