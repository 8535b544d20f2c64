"""The rows of a register file, checked (pure): every problem by line and field, and the good rows.

Buildings: code (its grid's 15 digits + 3), grid, name, a point (lon, lat in WGS84) or a footprint
(WKT), and the building head. People: name, ID number, phone, birth date, relation to the household,
building, unit, room, address, tags. Column names may be English or Chinese (``COLUMNS``).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from typing import Any

import shapely
from shapely import wkt

from db.cells import bad_character
from geo.grid_index import GridIndex
from registers.ids import birth_date, id_problem, normalise_id, phone_problem
from registers.tabular import Formula

Records = Iterable[tuple[int, list[str]]]


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of one line: a message key (``msg.field.…``) and its values."""

    line: int
    field: str
    key: str
    values: dict[str, Any] = dataclass_field(default_factory=dict)

    def message(self) -> dict[str, Any]:
        """The report's line for it, as a message (the catalogue words ``report.problem``)."""
        worded = {"key": self.key, "values": self.values}
        return {"key": "report.problem", "values": {"line": self.line, "field": self.field, "problem": worded}}


# Each kind's columns: English name → Chinese name.
COLUMNS = {
    "buildings": {
        "code": "楼栋编码",
        "grid": "网格",
        "name": "楼栋名称",
        "lon": "经度",
        "lat": "纬度",
        "footprint": "轮廓",
        "head": "楼栋长",
    },
    "people": {
        "name": "姓名",
        "id_number": "身份证号",
        "phone": "电话",
        "birth_date": "出生日期",
        "relation": "与户主关系",
        "building": "楼栋编码",
        "unit": "单元",
        "room": "室",
        "address": "地址",
        "tags": "标签",
    },
    "components": {
        "code": "标识码",
        "class": "小类代码",
        "name": "名称",
        "lon": "经度",
        "lat": "纬度",
        "shape": "几何",
        "owner": "权属单位",
        "maintainer": "养护单位",
        "status": "状态",
        "surveyed": "普查日期",  # ten letters at most, as a Shapefile's field names are
    },
}
REQUIRED = {
    "buildings": ("code", "grid", "name"),
    "people": ("name", "id_number", "relation", "building", "room"),
    "components": ("code", "owner", "status"),
}
TAG_SEPARATORS = re.compile(r"[;；,，、|]")
MAX_TEXT = 200


@dataclass(frozen=True)
class BuildingRow:
    """A building as a file row gives it (line 0: made by the platform, not read from a file)."""

    line: int
    code: str
    grid: str
    name: str
    head: str | None
    geometry: shapely.Geometry


@dataclass(frozen=True)
class PersonRow:
    """A person and the household they live in, as a file row gives them."""

    line: int
    name: str
    id_number: str
    phone: str | None
    birth_date: date
    relation: str
    building: str
    unit: str
    room: str
    address: str | None
    tags: tuple[str, ...]

    @property
    def household_id(self) -> str:
        """The household's key: building-unit-room (unit 0 when the building has none)."""
        return f"{self.building}-{self.unit or '0'}-{self.room}"


def beyond_header(records: Records, width: int) -> tuple[list[tuple[int, list[str]]], list[Problem]]:
    """The rows that fit under a header of ``width`` columns, and a problem for each row with cells beyond it."""
    fitting: list[tuple[int, list[str]]] = []
    problems: list[Problem] = []
    for line, row in records:
        extra = [n for n, cell in enumerate(row[width:], start=width + 1) if cell]
        if extra:
            problems.append(Problem(line, f"#{extra[0]}", "field.extra_cells", {"n": len(extra), "columns": width}))
        else:
            fitting.append((line, row))
    return fitting, problems


def columns(kind: str, header: list[str]) -> tuple[dict[str, int], list[Problem]]:
    """Where each field's column is; a problem for an unknown column and for a required one missing."""
    names = {**{en: en for en in COLUMNS[kind]}, **{zh: en for en, zh in COLUMNS[kind].items()}}
    found: dict[str, int] = {}
    problems = []
    for at, title in enumerate(header):
        key = title if title in names else title.lower()
        if key in names:
            found[names[key]] = at
        elif title:
            listed = [f"{en} ({zh})" for en, zh in COLUMNS[kind].items()]
            problems.append(Problem(1, title, "field.unknown_column", {"kind": kind, "columns": listed}))
    for field in REQUIRED[kind]:
        if field not in found:
            problems.append(Problem(1, field, "field.column_needed", {"column": field, "name": COLUMNS[kind][field]}))
    return found, problems


def row_fields(at: dict[str, int], row: list[str]) -> dict[str, str]:
    """A row's cells by field name (an empty one where the row is short)."""
    return {field: row[i] if i < len(row) else "" for field, i in at.items()}


def basic_problems(kind: str, line: int, values: dict[str, str]) -> list[Problem]:
    """What any row of ``kind`` may have wrong: a required field empty, a cell too long, a bad character, a formula."""
    found = [Problem(line, f, "field.empty") for f in REQUIRED[kind] if not values.get(f)]
    found += [
        Problem(line, f, "field.cell_too_long", {"most": MAX_TEXT})
        for f, v in values.items()
        if len(v) > MAX_TEXT and f not in ("footprint", "shape")
    ]
    found += [
        Problem(line, f, "field.bad_character", {"character": wrong[0], "at": wrong[1]})
        for f, v in values.items()
        if (wrong := bad_character(v))
    ]
    found += [
        Problem(line, f, "field.formula", {"formula": str(v)}) for f, v in values.items() if isinstance(v, Formula)
    ]
    return found


def _location(line: int, values: dict[str, str]) -> tuple[shapely.Geometry | None, list[Problem]]:
    if values.get("footprint"):
        try:
            shape = wkt.loads(values["footprint"])
        except shapely.errors.GEOSException:
            return None, [Problem(line, "footprint", "field.footprint_wkt")]
        if shape.geom_type not in ("Polygon", "MultiPolygon") or not shape.is_valid:
            return None, [Problem(line, "footprint", "field.footprint_shape")]
        return shape, []
    return point_of(line, values)


def point_of(line: int, values: dict[str, str]) -> tuple[shapely.Geometry | None, list[Problem]]:
    """A row's ``lon`` and ``lat`` (WGS84) as a point, or the problem with them."""
    try:
        lon, lat = float(values.get("lon", "")), float(values.get("lat", ""))
    except ValueError:
        return None, [Problem(line, "lon", "field.lon_lat")]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None, [Problem(line, "lat", "field.lon_lat_range")]
    return shapely.Point(lon, lat), []


def check_buildings(records: Records, at: dict[str, int], index: GridIndex) -> tuple[list[BuildingRow], list[Problem]]:
    """The good building rows, and a problem for each bad field: a grid not in the active set, a building outside it."""
    good: list[BuildingRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, row in records:
        values = row_fields(at, row)
        found = basic_problems("buildings", line, values)
        code, grid = values.get("code", ""), values.get("grid", "")
        geometry, where = _location(line, values)
        found += where
        if code and grid and not re.fullmatch(re.escape(grid) + r"\d{3}", code):
            found.append(Problem(line, "code", "field.building_code", {"grid": grid}))
        if code in seen:
            found.append(Problem(line, "code", "field.building_twice", {"code": code, "line": seen[code]}))
        seen.setdefault(code, line)
        if grid and geometry is not None:
            found += _in_grid(line, grid, geometry, index)
        if found:
            problems += found
        elif geometry is not None:
            good.append(BuildingRow(line, code, grid, values["name"], values.get("head") or None, geometry))
    return good, problems


def _in_grid(line: int, grid: str, geometry: shapely.Geometry, index: GridIndex) -> list[Problem]:
    """A problem if the grid is not in the active set, or the building lies outside it (beyond the tolerance)."""
    point = geometry.representative_point()
    distance = index.distance_m([point.x], [point.y], grid)
    if distance is None:
        return [Problem(line, "grid", "field.no_grid", {"grid": grid})]
    metres = float(distance[0])
    if metres <= index.tolerance_m:
        return []
    nearest = index.nearest(point.x, point.y)
    at = {"metres": round(metres), "grid": grid}
    if nearest:
        return [Problem(line, "lon", "field.building_outside_near", at | {"nearest": nearest[0]})]
    return [Problem(line, "lon", "field.building_outside", at)]


def split_tags(value: str) -> tuple[str, ...]:
    """Tags as written in a cell: separated by ; , 、 or |."""
    return tuple(dict.fromkeys(t.strip() for t in TAG_SEPARATORS.split(value) if t.strip()))


def check_people(
    records: Records, at: dict[str, int], buildings: set[str], tags: set[str]
) -> tuple[list[PersonRow], list[Problem]]:
    """The good person rows, and a problem for each bad field.

    ``buildings`` are the building codes of the register, ``tags`` those the visit rules know.
    """
    good: list[PersonRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, row in records:
        person, found = _person(line, row_fields(at, row), buildings, tags)
        if person is not None and person.id_number in seen:
            found.append(Problem(line, "id_number", "field.person_twice", {"line": seen[person.id_number]}))
        if person is not None:
            seen.setdefault(person.id_number, line)
        if found:
            problems += found
        elif person is not None:
            good.append(person)
    return good, problems


def _person(
    line: int, v: dict[str, str], buildings: set[str], tags: set[str]
) -> tuple[PersonRow | None, list[Problem]]:
    found = basic_problems("people", line, v)
    id_number = normalise_id(v.get("id_number", ""))
    wrong = id_problem(id_number) if id_number else None
    if wrong:
        found.append(Problem(line, "id_number", *wrong))
    phone = v.get("phone", "").replace(" ", "")
    if phone and (wrong_phone := phone_problem(phone)):
        found.append(Problem(line, "phone", *wrong_phone))
    born = birth_date(id_number) if id_number and not wrong else None
    if v.get("birth_date"):
        try:
            written = date.fromisoformat(v["birth_date"].replace("/", "-"))
        except ValueError:
            found.append(Problem(line, "birth_date", "field.date"))
        else:
            if born is not None and written != born:
                found.append(Problem(line, "birth_date", "field.birth_differs", {"born": born.isoformat()}))
            born = written
    building = v.get("building", "")
    if building and building not in buildings:
        found.append(Problem(line, "building", "field.no_building", {"building": building}))
    person_tags = split_tags(v.get("tags", ""))
    unknown = [t for t in person_tags if t not in tags]
    if unknown:
        found.append(Problem(line, "tags", "field.unknown_tags", {"tags": unknown, "known": sorted(tags)}))
    for field in ("unit", "room"):
        if v.get(field) and not re.fullmatch(r"[0-9A-Za-z]{1,8}", v[field]):
            found.append(Problem(line, field, "field.room"))
    if found or born is None:
        return None, found
    return (
        PersonRow(
            line,
            v["name"],
            id_number,
            phone or None,
            born,
            v["relation"],
            building,
            v.get("unit", ""),
            v["room"],
            v.get("address") or None,
            person_tags,
        ),
        found,
    )
