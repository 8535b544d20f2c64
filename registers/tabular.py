"""Reading and writing register files: CSV (UTF-8, or GB18030 as Excel in China saves it) and XLSX (openpyxl)."""

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook

from db.cells import csv_value, xlsx_row

MAX_ROWS = 1_000_000


class FileProblem(ValueError):
    """The file cannot be read as a table; the message says why and what to send instead."""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _csv_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileProblem(f"{path.name}: not UTF-8 or GB18030 text; save it as CSV UTF-8")


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the rows of a .csv or .xlsx file, each row with its line number (the header is line 1)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileProblem(f"{path}: no such file")
    rows: Iterator[list[str]]
    if suffix == ".csv":
        rows = csv.reader(io.StringIO(_csv_text(path), newline=""))
    elif suffix == ".xlsx":
        try:
            sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise FileProblem(f"{path.name}: not a readable .xlsx workbook ({type(exc).__name__})") from exc
        rows = ([_cell(v) for v in row] for row in sheet.iter_rows(values_only=True))
    else:
        raise FileProblem(f"{path.name}: send a .csv or .xlsx file")
    header = [h.strip() for h in next(rows, [])]
    if not any(header):
        raise FileProblem(f"{path.name}: the first line must name the columns")

    def numbered() -> Iterator[tuple[int, list[str]]]:
        for line, row in enumerate(rows, start=2):
            if line > MAX_ROWS + 1:
                raise FileProblem(f"{path.name}: more than {MAX_ROWS:,} rows; split the file")
            if any(cell.strip() for cell in row):
                yield line, [cell.strip() for cell in row]

    return header, numbered()


def write_table(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write ``rows`` under ``header`` as .csv (UTF-8 with BOM, which Excel opens) or .xlsx."""
    if path.suffix.lower() == ".xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(xlsx_row(sheet, header))
        for row in rows:
            sheet.append(xlsx_row(sheet, row))  # text stays text: no cell is a formula
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([csv_value(v) for v in row] for row in rows)
