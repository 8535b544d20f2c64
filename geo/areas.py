"""Reading areas of the active generation as GeoJSON."""

import json
from typing import Any

from sqlalchemy import Connection, text

_SELECT = """
SELECT a.code, a.level, a.name, a.name_en, a.parent_code, a.households, a.generation_id,
       ST_AsGeoJSON(a.geom, 7) AS geometry
FROM active_area a
"""


def _feature(row: Any) -> dict[str, Any]:
    properties = {k: getattr(row, k) for k in ("code", "level", "name", "name_en", "parent_code", "households")}
    properties["generation"] = row.generation_id
    return {"type": "Feature", "id": row.code, "properties": properties, "geometry": json.loads(row.geometry)}


Bounds = tuple[float, float, float, float]


def area_info(conn: Connection, code: str) -> tuple[str, Bounds] | None:
    """Name and lon/lat bounds of an area of the active generation (no geometry sent)."""
    row = conn.execute(
        text(
            "SELECT a.name, ST_XMin(a.geom), ST_YMin(a.geom), ST_XMax(a.geom), ST_YMax(a.geom) FROM active_area a"
            " WHERE a.code = :code"
        ),
        {"code": code},
    ).one_or_none()
    return (row[0], (row[1], row[2], row[3], row[4])) if row else None


def child_names(conn: Connection, code: str) -> list[tuple[str, str]]:
    """Code and name of each child of an area in the active generation, by code."""
    rows = conn.execute(
        text("SELECT a.code, a.name FROM active_area a WHERE a.parent_code = :code ORDER BY a.code"), {"code": code}
    )
    return [(child, name) for child, name in rows.all()]


def area_names(conn: Connection, code: str, limit: int = 20_000) -> dict[str, str]:
    """The name of the area ``code`` and of every area within it, by code (at most ``limit``, the finest last)."""
    rows = conn.execute(
        text(
            "SELECT a.code, a.name FROM active_area a WHERE a.code LIKE :prefix"
            " ORDER BY length(a.code), a.code LIMIT :n"
        ),
        {"prefix": code + "%", "n": limit},
    )
    return {child: name for child, name in rows.all()}


def first_district(conn: Connection) -> str | None:
    """The lowest district code of the active generation."""
    code = conn.execute(text("SELECT min(a.code) FROM active_area a WHERE a.level = 'district'")).scalar_one()
    return str(code) if code else None


def area_feature(conn: Connection, code: str) -> dict[str, Any] | None:
    """The area with ``code`` as a GeoJSON Feature, or None."""
    row = conn.execute(text(_SELECT + " WHERE a.code = :code"), {"code": code}).one_or_none()
    return _feature(row) if row else None


def children_collection(conn: Connection, code: str) -> dict[str, Any]:
    """The children of ``code`` as a GeoJSON FeatureCollection, ordered by code."""
    rows = conn.execute(text(_SELECT + " WHERE a.parent_code = :code ORDER BY a.code"), {"code": code}).all()
    return {"type": "FeatureCollection", "features": [_feature(r) for r in rows]}
