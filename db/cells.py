"""Text as it enters the platform and as it leaves in files people open (CSV, XLSX).

No text holds control characters or bidirectional overrides: ``FREE_TEXT`` (descriptions, notes,
reasons: tab and line ends allowed) and ``ONE_LINE`` (names, codes, references) are the patterns
every body and import checks, and ``bad_character`` says which character is where.

A text beginning with ``= + - @``, a tab or a carriage return would be read as a formula (CSV
injection). In CSV it is written with a leading ``'``, as OWASP advises; in XLSX as a string
cell, so it reads exactly as typed. Characters an XLSX file cannot hold (C0 controls) are left
out, so an export never fails halfway.
"""

import re
from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.cell.cell import WriteOnlyCell as _WriteOnlyCell

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0 controls, DEL, C1 controls, and the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069).
# The patterns hold the characters themselves, so pydantic's Rust engine and Python's re read them alike.
_NEVER = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"  # in no text at all
_LINE_ENDS = "\t\n\r"  # in multi-line text only
FREE_TEXT = f"^[^{_NEVER}]*$"
ONE_LINE = f"^[^{_NEVER}{_LINE_ENDS}]*$"
_FREE_BAD = re.compile(f"[{_NEVER}]")
_LINE_BAD = re.compile(f"[{_NEVER}{_LINE_ENDS}]")


def bad_character(text: str, multi_line: bool = False) -> tuple[str, int] | None:
    """The first character of ``text`` no text may hold (as ``U+001B``) and its place (from 1), or None."""
    found = (_FREE_BAD if multi_line else _LINE_BAD).search(text)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X}", found.start() + 1


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
