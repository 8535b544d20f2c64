"""``gridgov report monthly``: the monthly assessment report (绩效通报) of an area as an Excel workbook."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.settings import Settings
from cases.report import ReportError, monthly_report, parse_month, to_xlsx
from cli.wording import fail, lang, tell
from db import engine as db
from web.templating import labels

app = typer.Typer(help="Reports: the monthly assessment (绩效通报).", no_args_is_help=True)
console = Console(soft_wrap=True)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


@app.command("monthly")
def monthly(
    area: Annotated[str, typer.Option(help="Area code (6, 9, 12 or 15 digits)")],
    month: Annotated[str, typer.Option(help="The month, YYYY-MM")],
    out: Annotated[Path | None, typer.Option(help="The workbook to write (default: 绩效通报-AREA-MONTH.xlsx)")] = None,
) -> None:
    """Write an area's monthly assessment as XLSX, and print its totals and ranking."""
    settings = Settings()
    rules = settings.rules()
    engine = db.make_engine(settings.database.url)
    try:
        with engine.connect() as conn:
            report = monthly_report(conn, area, parse_month(month), rules, datetime.now(UTC), settings.grades())
    except ReportError as exc:
        fail(exc.key, 2, **exc.values)
    finally:
        engine.dispose()
    target = out or Path(f"绩效通报-{area}-{report['month']}.xlsx")
    try:
        target.write_bytes(to_xlsx(report, rules.calendar.tz, labels(lang())))
    except OSError as exc:
        fail("cli.cannot_write", file=str(target), why=str(exc.strerror))
    t = report["total"]
    console.print(tell("cli.report_written", name=report["name"], month=report["month"], file=str(target)))
    rates = {"closure": _rate(t["closure_rate"]), "on_time": _rate(t["on_time_closure_rate"])}
    console.print(tell("cli.report_totals", **t, **rates), highlight=False)
    for child in report["children"]:
        on_time = _rate(child["on_time_closure_rate"])
        shown = tell("cli.report_child", rank=child["rank"], name=child["name"], on_time=on_time)
        console.print(f"{shown}  {child['grade'] or '—'}", highlight=False)
    if not report["complete"]:
        console.print(tell("cli.report_incomplete"), highlight=False)
