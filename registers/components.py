"""The component register (部件普查数据): rows of a survey file checked (pure), and stored by identifier.

A component's identifier (标识码) is 16 digits: its county's code (GB/T 2260, 6), its 大类 (2) and 小类 (2)
of the classification, and a serial (6). A row is refused, by line, for an identifier of another shape, a
class the classification does not have (or a ``class`` column that says another), an identifier given
twice, a place outside every grid or a county that is not the one it stands in, an unknown status.
A re-import updates by identifier.
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import shapely
from shapely import wkt
from sqlalchemy import Connection, Engine, text

from db.register_tables import COMPONENT_STATUSES
from geo.grid_index import GridIndex
from registers.rows import Problem, Records, basic_problems, point_of, row_fields
from registers.store import Imported, Progress, copy_rows, upsert_counted

IDENTIFIER = re.compile(r"\d{16}")
COMPONENT_PREFIX = "BJ"


@dataclass(frozen=True)
class ComponentRow:
    """A component as a survey row gives it."""

    line: int
    code: str
    category: str  # BJ + 大类 + 小类
    name: str
    geometry: shapely.Geometry
    grid: str
    owner: str
    maintainer: str | None
    status: str
    surveyed_on: date | None


def _shape(line: int, values: dict[str, str]) -> tuple[shapely.Geometry | None, list[Problem]]:
    if values.get("shape"):
        try:
            shape = wkt.loads(values["shape"])
        except shapely.errors.GEOSException:
            return None, [Problem(line, "shape", "field.component_shape")]
        if shape.geom_type not in ("Point", "LineString", "MultiLineString") or shape.is_empty:
            return None, [Problem(line, "shape", "field.component_shape")]
        return shape, []
    return point_of(line, values)


def _date(line: int, value: str) -> tuple[date | None, list[Problem]]:
    if not value:
        return None, []
    try:
        return date.fromisoformat(value[:10]), []
    except ValueError:
        return None, [Problem(line, "surveyed", "field.date", {"value": value})]


def check_components(
    records: Records, at: dict[str, int], index: GridIndex, classes: dict[str, str]
) -> tuple[list[ComponentRow], list[Problem]]:
    """The good rows and every problem; ``classes``: each component class code (BJ0116) and its name."""
    good: list[ComponentRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, row in records:
        values = row_fields(at, row)
        found = basic_problems("components", line, values)
        code = values.get("code", "")
        geometry, where = _shape(line, values)
        found += where
        surveyed, bad_date = _date(line, values.get("surveyed", ""))
        found += bad_date
        category = ""
        if code and not IDENTIFIER.fullmatch(code):
            found.append(Problem(line, "code", "field.component_code", {"code": code}))
        elif code:
            category = COMPONENT_PREFIX + code[6:10]  # the class the identifier names
            if category not in classes:
                found.append(Problem(line, "code", "field.component_class", {"code": code, "class": code[6:10]}))
            given = values.get("class", "").removeprefix(COMPONENT_PREFIX)
            if given and given != code[6:10]:
                found.append(Problem(line, "class", "field.component_class_differs", {"class": given, "code": code}))
            if code in seen:
                found.append(Problem(line, "code", "field.component_twice", {"code": code, "line": seen[code]}))
            seen.setdefault(code, line)
        status = values.get("status", "")
        if status and status not in COMPONENT_STATUSES:
            found.append(Problem(line, "status", "field.component_status", {"statuses": "、".join(COMPONENT_STATUSES)}))
        grid = None
        if geometry is not None:
            grid, placed = _placed(line, code, geometry, index)
            found += placed
        if found:
            problems += found
        elif geometry is not None and grid is not None:
            name = values.get("name") or classes[category]
            maintainer = values.get("maintainer") or None
            good.append(
                ComponentRow(line, code, category, name, geometry, grid, values["owner"], maintainer, status, surveyed)
            )
    return good, problems


def _placed(line: int, code: str, geometry: shapely.Geometry, index: GridIndex) -> tuple[str | None, list[Problem]]:
    """The grid a component stands in (a line: at its middle), and a problem if none or of another county."""
    point = geometry.interpolate(0.5, normalized=True) if geometry.geom_type != "Point" else geometry
    grid = index.locate([point.x], [point.y]).grid()[0]
    if grid is None:
        return None, [
            Problem(line, "lon", "field.component_outside", {"lon": round(point.x, 6), "lat": round(point.y, 6)})
        ]
    if IDENTIFIER.fullmatch(code) and not grid.startswith(code[:6]):
        return grid, [Problem(line, "code", "field.component_region", {"region": code[:6], "grid": grid})]
    return grid, []


def import_components(
    conn: Connection, rows: list[ComponentRow], synthetic: bool = False, progress: Progress | None = None
) -> Imported:
    """Add or update (by identifier) the components, in the caller's transaction."""
    conn.execute(text("CREATE TEMP TABLE component_in (LIKE component INCLUDING DEFAULTS) ON COMMIT DROP"))
    wkb = shapely.to_wkb(shapely.set_srid([r.geometry for r in rows], 4326), hex=True, include_srid=True)
    copy_rows(
        conn,
        "COPY component_in (code, category, name, geom, grid_code, owner, maintainer, status, surveyed_on, synthetic)"
        " FROM STDIN",
        [
            (r.code, r.category, r.name, g, r.grid, r.owner, r.maintainer, r.status, r.surveyed_on, synthetic)
            for r, g in zip(rows, wkb, strict=True)
        ],
        progress,
    )
    return upsert_counted(
        conn,
        "INSERT INTO component (code, category, name, geom, grid_code, owner, maintainer, status, surveyed_on,"
        " synthetic) SELECT code, category, name, geom, grid_code, owner, maintainer, status, surveyed_on, synthetic"
        " FROM component_in ON CONFLICT (code) DO UPDATE SET category = EXCLUDED.category, name = EXCLUDED.name,"
        " geom = EXCLUDED.geom, grid_code = EXCLUDED.grid_code, owner = EXCLUDED.owner,"
        " maintainer = EXCLUDED.maintainer, status = EXCLUDED.status, surveyed_on = EXCLUDED.surveyed_on,"
        " synthetic = EXCLUDED.synthetic, updated_at = now()",
    )


# The components of a class near a point, nearest first: a box from the GiST index, then the distance in metres.
NEAR_SQL = """
SELECT c.code, c.category, c.name, c.status, c.owner, c.maintainer, c.grid_code,
       ST_DistanceSphere(c.geom, p.pt) AS distance_m,
       EXISTS (SELECT 1 FROM "case" k WHERE k.component = c.code AND k.closed_at IS NULL) AS open_case
FROM component c, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt) p
WHERE c.geom && ST_Expand(p.pt, :degrees) AND (CAST(:category AS text) IS NULL OR c.category = :category)
  AND ST_DistanceSphere(c.geom, p.pt) <= :within
ORDER BY distance_m, c.code LIMIT :limit
"""
METRES_PER_DEGREE = 111_320.0


def near(
    conn: Connection, lon: float, lat: float, within_m: float, category: str | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """The components (of ``category``, if given) within ``within_m`` metres of a WGS84 point, nearest first."""
    degrees = within_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))  # wide enough at any latitude
    params = {"lon": lon, "lat": lat, "degrees": degrees, "category": category, "within": within_m, "limit": limit}
    return [dict(r._mapping) for r in conn.execute(text(NEAR_SQL), params)]


def set_status(engine: Engine, code: str, status: str) -> None:
    """A component's state as a verification found it."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE component SET status = :s, updated_at = now() WHERE code = :c"), {"s": status, "c": code}
        )


# An area of responsibility from a line (a road: buffered by ``buffer_m`` metres) or a polygon (a park).
_AREA = """
INSERT INTO unit_area (unit, name, geom)
SELECT :unit, :name, ST_Multi(CASE WHEN GeometryType(g) LIKE '%POLYGON' THEN g
                                   ELSE ST_Buffer(g::geography, :buffer)::geometry END)
FROM (SELECT ST_SetSRID(ST_GeomFromText(:wkt), 4326) AS g) s
"""


def area_shape(shape: str) -> bool:
    """Whether a WKT is one an area can be made of: a valid polygon (a park) or a line (a road), not empty."""
    try:
        geometry = wkt.loads(shape)
    except shapely.errors.GEOSException:
        return False
    kinds = ("Polygon", "MultiPolygon", "LineString", "MultiLineString")
    return geometry.geom_type in kinds and not geometry.is_empty and geometry.is_valid


def import_areas(conn: Connection, areas: list[tuple[str, str, str]], buffer_m: float) -> int:
    """Replace the areas of responsibility of the units named: (unit, area name, WKT) each; how many were stored."""
    units = sorted({unit for unit, _, _ in areas})
    conn.execute(text("DELETE FROM unit_area WHERE unit = ANY(:units)"), {"units": units})
    for unit, name, shape in areas:
        conn.execute(text(_AREA), {"unit": unit, "name": name, "wkt": shape, "buffer": buffer_m})
    return len(areas)


# The demo city's synthetic components (every name ends （模拟）, every row synthetic): street lights every
# 50 m along each grid's edge (its streets), and in each grid two covers (上水, 污水) and two bins.
DEMO_OWNERS = {
    "BJ0116": "区路灯管理所",
    "BJ0101": "区住房和城乡建设局",
    "BJ0102": "区住房和城乡建设局",
    "BJ0304": "区环境卫生管理所",
}
_DEMO_COMPONENTS = """
WITH grids AS (SELECT code, ST_GeometryN(geom, 1) AS shape FROM active_area WHERE level = 'grid' AND code LIKE :prefix),
lamps AS (
  SELECT g.code AS grid, 'BJ0116' AS cls, (ST_DumpPoints(ST_LineInterpolatePoints(ST_ExteriorRing(g.shape),
         least(1.0, 50.0 / greatest(ST_Length(ST_ExteriorRing(g.shape)::geography), 50.0))))).geom AS pt
  FROM grids g),
others AS (
  SELECT g.code AS grid, c.cls, (ST_Dump(ST_GeneratePoints(g.shape, 1, c.seed))).geom AS pt
  FROM grids g CROSS JOIN (VALUES ('BJ0101', 1), ('BJ0102', 2), ('BJ0304', 3), ('BJ0304', 4)) c(cls, seed)),
placed AS (SELECT * FROM lamps UNION ALL SELECT * FROM others)
INSERT INTO component (code, category, name, geom, grid_code, owner, maintainer, status, surveyed_on, synthetic)
SELECT left(p.grid, 6) || substr(p.cls, 3) || lpad(row_number() OVER (PARTITION BY p.cls ORDER BY p.grid,
       ST_X(p.pt), ST_Y(p.pt))::text, 6, '0'), p.cls, n.name || '（模拟）', p.pt, p.grid,
       (CAST(:owners AS jsonb)) ->> p.cls, '演示养护公司（模拟）', '完好', current_date, true
FROM placed p
JOIN (VALUES ('BJ0116', '路灯'), ('BJ0101', '上水井盖'), ('BJ0102', '污水井盖'), ('BJ0304', '垃圾箱')) n(cls, name)
  ON n.cls = p.cls
ON CONFLICT (code) DO NOTHING
"""


def load_demo_components(conn: Connection, district: str) -> int:
    """The demo district's synthetic components, once (none added when it has some); how many were added."""
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM component WHERE code LIKE :p)"), {"p": district + "%"}).scalar():
        return 0
    params = {"prefix": district + "%", "owners": json.dumps(DEMO_OWNERS, ensure_ascii=False)}
    return int(conn.execute(text(_DEMO_COMPONENTS), params).rowcount)
