"""Reading and writing register files: CSV (UTF-8, or GB18030 as Excel in China saves it) and XLSX (openpyxl)."""

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from db.cells import csv_value, xlsx_row

MAX_ROWS = 1_000_000
MAX_CSV_BYTES = 256 * 2**20  # a CSV file: about a million people of a district
MAX_FIELD = csv.field_size_limit()  # one CSV cell: Python's csv module's own limit (131,072 characters)
MAX_UNPACKED = 256 * 2**20  # an XLSX workbook, all its parts unpacked (checked before parsing: zip bombs)
MAX_SHARED_STRINGS = 64 * 2**20  # its table of texts, unpacked


class FileProblem(ValueError):
    """The file cannot be read as a table: a message key (``msg.file.…``) saying why and what to send instead."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(f"{key}: {values}")
        self.key, self.values = key, values


class Formula(str):
    """A workbook cell holding a formula (``=1+1``): its text, reported as a formula, never read as a value."""


def _xlsx_cell(cell: Any) -> str:
    if getattr(cell, "data_type", None) == "f":
        return Formula(str(cell.value))
    return _cell(cell.value)


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
    raise FileProblem("file.encoding", file=path.name)


GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")


def _geo_rows(path: Path) -> Iterator[list[str]]:
    """A map file's attribute header and rows, the geometry last as WKT in WGS84 (a file without a CRS: WGS84)."""
    import geopandas as gpd

    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise FileProblem("file.geo_unreadable", file=path.name, why=type(exc).__name__) from exc
    if len(frame) > MAX_ROWS:
        raise FileProblem("file.too_many_rows", file=path.name, most=MAX_ROWS)
    frame = frame.set_crs(4326) if frame.crs is None else frame.to_crs(4326)
    names = [str(c) for c in frame.columns if c != frame.geometry.name]
    yield [*names, "shape"]
    for values, shape in zip(frame[names].itertuples(index=False), frame.geometry.values, strict=True):
        yield [*(_cell(v) if v == v else "" for v in values), "" if shape is None else shape.wkt]  # NaN: empty


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f}"


def _check_unpacked(path: Path) -> None:
    """Refuse a workbook that unpacks to more than the limits, from its zip directory alone (nothing is unpacked)."""
    try:
        with zipfile.ZipFile(path) as book:
            parts = book.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileProblem("file.xlsx_unreadable", file=path.name, why=type(exc).__name__) from exc
    unpacked = sum(part.file_size for part in parts)
    strings = sum(part.file_size for part in parts if part.filename.lower().endswith("sharedstrings.xml"))
    if unpacked > MAX_UNPACKED:
        raise FileProblem("file.unpacked", file=path.name, mb=_mb(unpacked), most=_mb(MAX_UNPACKED))
    if strings > MAX_SHARED_STRINGS:
        raise FileProblem("file.strings", file=path.name, mb=_mb(strings), most=_mb(MAX_SHARED_STRINGS))


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the rows of a .csv, .xlsx or map file, each row with its line number (the header is line 1).

    A map file (GeoJSON, GeoPackage, Shapefile) is read as a table of its attributes and its geometry as WKT
    in WGS84 (column ``shape``); its features are its lines, numbered from 2.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileProblem("file.missing", file=str(path))
    rows: Iterator[list[str]]
    if suffix == ".csv":
        if path.stat().st_size > MAX_CSV_BYTES:
            raise FileProblem("file.csv_too_big", file=path.name, most=_mb(MAX_CSV_BYTES))
        rows = csv.reader(io.StringIO(_csv_text(path), newline=""))
    elif suffix in GEO_SUFFIXES:
        rows = _geo_rows(path)
    elif suffix == ".xlsx":
        _check_unpacked(path)
        try:
            sheet = load_workbook(path, read_only=True, data_only=False).worksheets[0]  # formulas as formulas
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise FileProblem("file.xlsx_unreadable", file=path.name, why=type(exc).__name__) from exc
        rows = ([_xlsx_cell(c) for c in row] for row in sheet.iter_rows())
    else:
        raise FileProblem("file.suffix", file=path.name)
    header = [h.strip() for h in next(rows, [])]
    if not any(header):
        raise FileProblem("file.no_header", file=path.name)

    def numbered() -> Iterator[tuple[int, list[str]]]:
        line = 1
        try:
            for line, row in enumerate(rows, start=2):
                if line > MAX_ROWS + 1:
                    raise FileProblem("file.too_many_rows", file=path.name, most=MAX_ROWS)
                if any(cell.strip() for cell in row):
                    yield line, [cell if isinstance(cell, Formula) else cell.strip() for cell in row]
        except csv.Error as exc:  # a cell over MAX_FIELD, or a quote never closed
            raise FileProblem("file.cell", file=path.name, line=line + 1, why=str(exc), most=MAX_FIELD) from None

    return header, numbered()


def write_table(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write ``rows`` under ``header`` as .csv (UTF-8 with BOM, which Excel opens) or .xlsx, whole or not at all.

    The file is written beside ``path`` and renamed onto it once complete, so a failure halfway (a full
    disk, a cell no format can hold) leaves no partial file and an existing one as it was.
    """
    part = path.with_name(f".{path.name}.part")
    try:
        if path.suffix.lower() == ".xlsx":
            book = Workbook(write_only=True)
            sheet = book.create_sheet()
            sheet.append(xlsx_row(sheet, header))
            for row in rows:
                sheet.append(xlsx_row(sheet, row))  # text stays text: no cell is a formula
            book.save(part)
        else:
            with part.open("w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(header)
                writer.writerows([csv_value(v) for v in row] for row in rows)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
