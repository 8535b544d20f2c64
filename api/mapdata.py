"""Queries behind the map: aggregated on the server, simplified geometry, scoped to an area."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from cases.categories import default_categories
from cases.places import IN_AREA
from db.partitions import case_report

TILE_EXTENT = 4096  # vector tile coordinates per side (the MVT default)
TILE_BUFFER = 64  # of them beyond the edge, so outlines do not stop at a tile's border
MAX_ZOOM = 22
NAMED_ZOOM = 12  # tiles from this zoom carry the grids' names too (for the tooltip); below, the code alone
SIMPLIFY_DEG = 0.00005  # about 5 m: invisible at city zoom, a fraction of the vertices
HEAT_CELL_DEG = 0.0005  # incidents are summed per ~50 m cell, or coarser so that
MAX_HEAT_CELLS = 5_000  # a whole city's heat map stays within this many points (~18 px apart on a wall)
WINDOWS = {"hour": timedelta(hours=1), "today": None, "7d": timedelta(days=7)}


def window_start(window: str, now: datetime, tz: Any) -> datetime:
    """Start of the heat map's window (``today`` is local midnight)."""
    span = WINDOWS[window]
    if span is None:
        local = now.astimezone(tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - span


def boundaries(conn: Connection, level: str, prefix: str) -> dict[str, Any]:
    """Areas of one level under ``prefix`` as a FeatureCollection with simplified geometry."""
    rows = conn.execute(
        text(
            "SELECT a.code, a.name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, :tol), 6) FROM active_area a"
            " WHERE a.level = :level AND a.code LIKE :prefix ORDER BY a.code"
        ),
        {"tol": SIMPLIFY_DEG, "level": level, "prefix": prefix + "%"},
    ).all()
    return _collection(rows, lambda r: {"code": r[0], "name": r[1]})


def overlay_grids(conn: Connection, layer: str, prefix: str) -> dict[str, Any]:
    """Overlay grids of one layer (party, special) spanning a management grid under ``prefix``."""
    rows = conn.execute(
        text(
            "SELECT o.code, o.name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(o.geom, :tol), 6), o.kind, o.owner,"
            " o.spans FROM overlay_area o JOIN boundary_generation g ON g.id = o.generation_id AND g.active"
            " WHERE o.layer = :layer AND EXISTS (SELECT 1 FROM unnest(o.spans) s WHERE s LIKE :prefix)"
            " ORDER BY o.code"
        ),
        {"tol": SIMPLIFY_DEG, "layer": layer, "prefix": prefix + "%"},
    ).all()
    return _collection(rows, lambda r: {"code": r[0], "name": r[1], "kind": r[3], "owner": r[4], "spans": r[5]})


def _collection(rows: Any, properties: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": r[0], "properties": properties(r), "geometry": json.loads(r[2])} for r in rows
        ],
    }


_METRIC_SQL = {
    "open_cases": 'SELECT grid_code, count(*) FROM "case" WHERE closed_at IS NULL AND grid_code LIKE :prefix'
    " GROUP BY 1",
    "overdue_cases": 'SELECT grid_code, count(*) FROM "case" WHERE grid_code LIKE :prefix AND (overdue OR'
    " (closed_at IS NULL AND paused_at IS NULL AND deadline <= :now)) GROUP BY 1",
    "in_grid_closure_rate": "SELECT grid_code, avg(CASE WHEN closed_at IS NOT NULL AND level = 'grid'"
    " AND escalations = 0 THEN 1.0 ELSE 0.0 END) FROM \"case\" WHERE sla_class = 'minor'"
    " AND grid_code LIKE :prefix AND opened_at >= :since GROUP BY 1",
    "patrolled_today": "SELECT grid_code, 1 FROM event WHERE kind = 'patrol' AND grid_code LIKE :prefix"
    " AND occurred_at >= :today GROUP BY 1",
}


COUNTS = ("open_cases", "overdue_cases", "patrolled_today", "overdue_visits")  # a grid without any has 0


def grid_values(
    conn: Connection, metric: str, prefix: str, now: datetime, today: datetime, counted: dict[str, int] | None = None
) -> dict[str, float]:
    """The metric of the grids under ``prefix`` that have a value; a count's are int, and a grid not named has 0.

    ``counted`` gives the values of a metric computed elsewhere (overdue visits, from the registers).
    """
    values: dict[str, Any] = dict(counted or {})
    if metric in _METRIC_SQL:
        # The in-grid closure of the cases opened in the last 30 whole days (the city's): steady through a day.
        params = {"prefix": prefix + "%", "now": now, "since": today - timedelta(days=30), "today": today}
        values = dict(conn.execute(text(_METRIC_SQL[metric]), params).all())
    if metric in COUNTS:
        return {code: int(value) for code, value in values.items() if value}
    return {code: round(float(value), 3) for code, value in values.items() if value is not None}


def missing_value(metric: str) -> float | None:
    """The value of a grid that ``grid_values`` leaves out: 0 for a count, none for a rate."""
    return 0.0 if metric in COUNTS else None


def grid_metric(conn: Connection, metric: str, prefix: str, values: dict[str, float]) -> dict[str, Any]:
    """Grids under ``prefix`` with ``properties.value`` = the metric (simplified geometry)."""
    collection = boundaries(conn, "grid", prefix)
    for feature in collection["features"]:
        value = values.get(feature["id"])
        feature["properties"]["value"] = float(value or 0) if metric in COUNTS else value
    return collection


# The grids of one web-mercator tile as a Mapbox Vector Tile, as tipg and martin serve them: clipped and
# quantised to the tile by ST_AsMVTGeom, found through the GiST index. Layer "grids": the feature id is the
# grid's code (15 digits: exact in a JavaScript number, and no string to decode); the name from NAMED_ZOOM.
_GRID_TILE_SQL = """
WITH tile AS (SELECT ST_TileEnvelope(:z, :x, :y) AS envelope)
SELECT ST_AsMVT(t, 'grids', :extent, 'geom', 'id') FROM (
  SELECT a.code::bigint AS id, CASE WHEN :z >= :named THEN a.name END AS name,
    ST_AsMVTGeom(ST_Transform(a.geom, 3857), tile.envelope, :extent, :buffer, true) AS geom
  FROM active_area a, tile
  WHERE a.level = 'grid' AND a.code LIKE :prefix AND a.geom && ST_Transform(tile.envelope, 4326)
) t
"""  # ST_AsMVT leaves out a grid clipped away (NULL); a WHERE on it would make PostGIS clip every grid twice


def grid_tile(conn: Connection, prefix: str, z: int, x: int, y: int) -> bytes:
    """The grids under ``prefix`` in tile ``z/x/y`` (empty bytes when there are none)."""
    params = {"z": z, "x": x, "y": y, "prefix": prefix + "%", "extent": TILE_EXTENT, "buffer": TILE_BUFFER}
    conn.execute(text("SET LOCAL jit = off"))  # compiling the query would take longer than running it
    return bytes(conn.execute(text(_GRID_TILE_SQL), params | {"named": NAMED_ZOOM}).scalar_one() or b"")


# The components of one tile (layer "components"), from COMPONENT_ZOOM: a lamp is a dot only up close.
_COMPONENT_TILE_SQL = """
WITH tile AS (SELECT ST_TileEnvelope(:z, :x, :y) AS envelope)
SELECT ST_AsMVT(t, 'components', :extent, 'geom') FROM (
  SELECT k.code, k.category, k.status,
    EXISTS (SELECT 1 FROM "case" c WHERE c.component = k.code AND c.closed_at IS NULL) AS open,
    ST_AsMVTGeom(ST_Transform(k.geom, 3857), tile.envelope, :extent, :buffer, true) AS geom
  FROM component k, tile
  WHERE k.grid_code LIKE :prefix AND k.geom && ST_Transform(tile.envelope, 4326)
    AND (CAST(:category AS text) IS NULL OR k.category = :category)
) t
"""
COMPONENT_ZOOM = 15


def component_tile(conn: Connection, prefix: str, z: int, x: int, y: int, category: str | None) -> bytes:
    """The components under ``prefix`` (of ``category``, if given) in tile ``z/x/y``; empty below COMPONENT_ZOOM."""
    if z < COMPONENT_ZOOM:
        return b""
    params = {"z": z, "x": x, "y": y, "prefix": prefix + "%", "extent": TILE_EXTENT, "buffer": TILE_BUFFER}
    conn.execute(text("SET LOCAL jit = off"))
    return bytes(conn.execute(text(_COMPONENT_TILE_SQL), params | {"category": category}).scalar_one() or b"")


def heat_cell(bounds: tuple[float, float, float, float]) -> float:
    """Cell size in degrees: ~50 m, coarser for large areas (at most ``MAX_HEAT_CELLS`` cells)."""
    xmin, ymin, xmax, ymax = bounds
    return float(max(HEAT_CELL_DEG, ((xmax - xmin) * (ymax - ymin) / MAX_HEAT_CELLS) ** 0.5))


def heat_points(
    conn: Connection, prefix: str, since: datetime, cell: float = HEAT_CELL_DEG
) -> list[tuple[float, float, float]]:
    """Incidents since ``since`` summed per cell of ``cell`` degrees: (lat, lon, count)."""
    rows = conn.execute(
        text(
            "SELECT round(ST_Y(geom) / :cell) * :cell, round(ST_X(geom) / :cell) * :cell, count(*) FROM event"
            " WHERE kind = 'incident' AND grid_code LIKE :prefix AND received_at >= :since GROUP BY 1, 2"
        ),
        {"cell": cell, "prefix": prefix + "%", "since": since},
    ).all()
    return [(round(float(lat), 5), round(float(lon), 5), int(n)) for lat, lon, n in rows]  # 5 decimals: 1 m


def escalated_cases(conn: Connection, prefix: str, now: datetime, limit: int = 2000) -> list[dict[str, Any]]:
    """Open cases that were escalated or are overdue, soonest deadline first."""
    rows = conn.execute(
        text(
            "SELECT c.id::text, c.category, c.grid_code, c.level, c.opened_at, c.deadline, ST_Y(e.geom), ST_X(e.geom),"
            " a.name AS grid_name, c.number"
            f' FROM "case" c {case_report()} LEFT JOIN active_area a ON a.code = c.grid_code'
            f" WHERE c.closed_at IS NULL AND {IN_AREA}"
            " AND (c.escalations > 0 OR c.overdue OR c.deadline <= :now) ORDER BY c.deadline NULLS LAST LIMIT :limit"
        ),
        {"prefix": prefix + "%", "now": now, "limit": limit},
    ).all()
    names = default_categories()
    return [
        {
            "id": r[0],
            "number": r[9],
            "category": r[1],
            "category_name": names[r[1]].name if r[1] in names else r[1],
            "grid": r[2],
            "grid_name": r[8] or r[2] or "",
            "level": r[3],
            "age": _age(now - r[4]),
            "age_s": int((now - r[4]).total_seconds()),
            "deadline": r[5].astimezone(UTC).isoformat() if r[5] else "",
            "lat": r[6],
            "lon": r[7],
        }
        for r in rows
    ]


def _age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h {int(delta.total_seconds() // 60) % 60}m"
