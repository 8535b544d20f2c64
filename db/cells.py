"""Values as they go into files people open in Excel or WPS (CSV, XLSX): text that never runs as a formula.

A text beginning with ``= + - @``, a tab or a carriage return would be read as a formula (CSV
injection). In CSV it is written with a leading ``'``, as OWASP advises; in XLSX as a string
cell, so it reads exactly as typed. Characters an XLSX file cannot hold (C0 controls) are left
out, so an export never fails halfway.
"""

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.cell.cell import WriteOnlyCell as _WriteOnlyCell

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value: Any) -> Any:
    """``value`` for a CSV cell: a text that would start a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """``values`` as a row for ``sheet.append``: each text a string cell (never a formula), others as they are."""
    row: list[Any] = []
    for value in values:
        if isinstance(value, str):
            cell: Cell = _WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row
