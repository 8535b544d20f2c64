"""Reading boundary files and storing them as a new, atomically activated generation."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import Connection, Engine, text

from geo.crs import ACCEPTED, CRS, EPSG, source_system, to_wgs84
from geo.levels import Level
from geo.overlays import Layer, OverlayFields, copy_overlays, overlay_frame, read_overlays, validate_overlays
from geo.validate import COLUMNS, Finding, Fix, fix_geometries, judged, polygonal, validate

IMPORT_LOCK = 7_301_001  # advisory lock: one import at a time
Coverage = Literal["complete", "partial"]  # whether an imported layer covers its parents whole
Progress = Callable[[int, int], None]


class BoundaryError(Exception):
    """A boundary file cannot be imported as it is; the message says why."""


class ImportRejected(BoundaryError):
    """Validation found errors; nothing was stored."""

    def __init__(self, findings: list[Finding]) -> None:
        introduced = [f for f in findings if f.blocking]
        existing = sum(1 for f in findings if f.severity == "error" and f.existing)
        also = f" (and {existing} the active set already had, which do not block)" if existing else ""
        super().__init__(f"{len(introduced)} validation error(s) this import introduces{also}; nothing was imported")
        self.findings = findings


@dataclass
class ImportResult:
    """The generation an import created and what validation and repair said."""

    generation_id: int
    areas: int
    findings: list[Finding] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)


@dataclass(frozen=True)
class FieldMap:
    """Which attributes of the source hold code, name, parent and households."""

    code: str = "code"
    name: str = "name"
    name_en: str | None = "name_en"
    parent: str | None = None  # default: the code without its last three digits
    households: str | None = "households"


def _read(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise BoundaryError(f"cannot read {path}: {exc}") from exc


def read_overlay_layer(
    path: Path, layer: Layer, fields: OverlayFields | None = None, source_crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read a party or special grid file into the overlay columns, in WGS84."""
    try:
        return overlay_frame(_to_wgs84(_read(path), source_crs), layer, fields or OverlayFields(), str(path))
    except ValueError as exc:
        raise BoundaryError(str(exc)) from None


def read_layer(
    path: Path, level: Level, fields: FieldMap = FieldMap(), source_crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read GeoJSON, GeoPackage or Shapefile into the normalised columns, in WGS84."""
    raw = _read(path)
    for name in (fields.code, fields.name):
        if name not in raw.columns:
            raise BoundaryError(f"{path} has no field {name!r}; fields are {sorted(map(str, raw.columns))}")
    raw = _to_wgs84(raw, source_crs)
    codes = raw[fields.code].astype(str).str.strip()
    if fields.parent and fields.parent in raw.columns:
        parents = raw[fields.parent].astype(str).str.strip()
    else:
        parents = codes.str[:-3] if level.parent else pd.Series([None] * len(raw))
    households = (
        pd.to_numeric(raw[fields.households], errors="coerce")
        if fields.households and fields.households in raw.columns
        else pd.Series([np.nan] * len(raw))
    )
    name_en = raw[fields.name_en] if fields.name_en and fields.name_en in raw.columns else None
    geometry = [polygonal(g) if g is not None else shapely.MultiPolygon() for g in raw.geometry.values]
    return gpd.GeoDataFrame(
        {
            "code": codes.values,
            "level": level.value,
            "name": raw[fields.name].astype(str).values,
            "name_en": name_en.values if name_en is not None else None,
            "parent_code": parents.values if level.parent else None,
            "households": households.values,
        },
        geometry=geometry,
        crs=4326,
    )[COLUMNS]


def _to_wgs84(raw: gpd.GeoDataFrame, source_crs: str | None) -> gpd.GeoDataFrame:
    try:
        system = source_system(source_crs) if source_crs else None
    except ValueError as exc:
        raise BoundaryError(str(exc)) from None
    if system in (CRS.GCJ02, CRS.BD09):

        def convert(xy: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
            lon, lat = to_wgs84(xy[:, 0], xy[:, 1], system)
            return np.column_stack([lon, lat])

        return raw.set_crs(4326, allow_override=True).set_geometry(shapely.transform(raw.geometry.values, convert))
    if system is not None:
        try:
            raw = raw.set_crs(EPSG[system] if isinstance(system, CRS) else system, allow_override=True)
        except pyproj.exceptions.CRSError as exc:
            raise BoundaryError(f"unknown coordinate system {source_crs!r}; use {ACCEPTED}") from exc
    if raw.crs is None:
        return raw.set_crs(4326)
    # EPSG:4490 (CGCS2000) to 4326 is an identity within centimetres.
    return raw.to_crs(4326)


def active_generation(conn: Connection) -> int | None:
    """Id of the active generation, or None before the first import."""
    value = conn.execute(text("SELECT id FROM boundary_generation WHERE active")).scalar_one_or_none()
    return int(value) if value is not None else None


def read_generation(
    conn: Connection, generation_id: int | None, exclude_level: Level | None = None
) -> gpd.GeoDataFrame:
    """Every area of a generation (optionally but one level) in the normalised columns."""
    if generation_id is None:
        return gpd.GeoDataFrame(columns=COLUMNS, geometry="geometry", crs=4326)
    query = (
        "SELECT code, level, name, name_en, parent_code, households, geom AS geometry "
        "FROM area WHERE generation_id = %(generation)s AND level <> %(exclude)s ORDER BY code"
    )
    return gpd.read_postgis(
        query,
        conn,
        geom_col="geometry",
        params={"generation": generation_id, "exclude": exclude_level.value if exclude_level else ""},
    )


def coverage_statements(conn: Connection, generation_id: int | None) -> dict[str, Coverage]:
    """Each level's own statement of how it covers its parents, as its last import made it."""
    if generation_id is None:
        return {}
    value = conn.execute(
        text("SELECT coverage FROM boundary_generation WHERE id = :id"), {"id": generation_id}
    ).scalar_one()
    return dict(value or {})


def findings_of(
    areas: gpd.GeoDataFrame, overlays: gpd.GeoDataFrame, statements: dict[str, Coverage], tolerance_m2: float
) -> list[Finding]:
    """Validation of a whole set: the levels (partial ones' gaps as information) and the overlays on its grids."""
    partial = frozenset(Level(level) for level, said in statements.items() if said == "partial")
    grids = areas[areas.level == Level.GRID.value]
    return validate(areas, tolerance_m2, partial) + validate_overlays(overlays, grids, tolerance_m2)


@dataclass
class _Set:
    """A boundary set to store: areas, overlays and the layers' coverage statements."""

    areas: gpd.GeoDataFrame
    overlays: gpd.GeoDataFrame
    statements: dict[str, Coverage]


def _active(conn: Connection) -> tuple[int | None, _Set]:
    current = active_generation(conn)
    return current, _Set(
        read_generation(conn, current), read_overlays(conn, current), coverage_statements(conn, current)
    )


def import_layer(
    engine: Engine,
    layer: gpd.GeoDataFrame,
    level: Level,
    *,
    source: str,
    fix: bool = False,
    allow_errors: bool = False,
    tolerance_m2: float = 1.0,
    coverage: Coverage = "complete",
    progress: Progress | None = None,
) -> ImportResult:
    """Replace one level of the active set by ``layer`` as a new generation, in one transaction.

    The new generation holds the active generation's other levels, its overlays and the
    new layer, is validated as a whole, and is activated in the same transaction: readers
    see the old set or the new one, never a mix. It is judged by what it changes: an
    error it introduces refuses it (nothing is stored), errors the active set already
    had at other layers are reported and do not block (those about the imported level
    are the new layer's own). ``coverage="partial"`` is the layer's statement that it covers
    its parents only in part (a pilot): the gaps it leaves are information. The statement
    is kept with the generation, so later imports of other levels judge its gaps alike.
    """
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
        _, before = _active(conn)
        areas = pd.concat([before.areas[before.areas.level != level.value], layer], ignore_index=True)
        after = _Set(
            gpd.GeoDataFrame(areas, geometry="geometry", crs=4326),
            before.overlays,
            before.statements | {level.value: coverage},
        )
        return _store(conn, after, source, fix, allow_errors, tolerance_m2, progress, before=before, changed=level)


def import_overlay(
    engine: Engine,
    layer: gpd.GeoDataFrame,
    kind: Layer,
    *,
    source: str,
    allow_errors: bool = False,
    tolerance_m2: float = 1.0,
) -> ImportResult:
    """Replace one overlay layer (party or special grids) of the active set, judged as ``import_layer`` is."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
        _, before = _active(conn)
        overlays = pd.concat([before.overlays[before.overlays.layer != kind], layer], ignore_index=True)
        after = _Set(before.areas, gpd.GeoDataFrame(overlays, geometry="geometry", crs=4326), before.statements)
        return _store(conn, after, source, False, allow_errors, tolerance_m2, None, before=before, changed=kind)


def revalidate_active(engine: Engine, *, fix: bool, tolerance_m2: float = 1.0) -> ImportResult:
    """Validate the active set; with ``fix``, store the repaired set as a new generation."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
        current, active = _active(conn)
        if not fix:
            findings = findings_of(active.areas, active.overlays, active.statements, tolerance_m2)
            return ImportResult(current or 0, len(active.areas), findings)
        return _store(conn, active, "make_valid of the active set", True, False, tolerance_m2, None)


def _store(
    conn: Connection,
    after: _Set,
    source: str,
    fix: bool,
    allow_errors: bool,
    tolerance_m2: float,
    progress: Progress | None,
    *,
    before: _Set | None = None,
    changed: str | None = None,
) -> ImportResult:
    fixes: list[Fix] = []
    areas = after.areas
    if fix:
        areas, fixes = fix_geometries(areas)
    had = [] if before is None else findings_of(before.areas, before.overlays, before.statements, tolerance_m2)
    findings = judged(had, findings_of(areas, after.overlays, after.statements, tolerance_m2), changed)
    if any(f.blocking for f in findings) and not allow_errors:
        raise ImportRejected(findings)
    generation = conn.execute(
        text("INSERT INTO boundary_generation (source, coverage) VALUES (:source, :coverage) RETURNING id"),
        {"source": source, "coverage": json.dumps(after.statements)},
    ).scalar_one()
    _copy_areas(conn, generation, areas, progress)
    if not after.overlays.empty:
        with _cursor(conn) as cursor:
            copy_overlays(cursor, generation, after.overlays)
    conn.execute(text("UPDATE boundary_generation SET active = false WHERE active"))
    conn.execute(text("UPDATE boundary_generation SET active = true WHERE id = :id"), {"id": generation})
    return ImportResult(int(generation), len(areas), findings, fixes)


def _cursor(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw.cursor()


def _copy_areas(conn: Connection, generation: int, areas: gpd.GeoDataFrame, progress: Progress | None) -> None:
    """COPY the areas in chunks (reporting progress) into the still inactive generation."""
    chunk = 2000
    total = len(areas)
    multi = shapely.set_srid(np.array([polygonal(g) for g in areas.geometry.values], dtype=object), 4326)
    wkb = shapely.to_wkb(multi, hex=True, include_srid=True)
    with _cursor(conn) as cursor:
        for start in range(0, total, chunk):
            rows = areas.iloc[start : start + chunk]
            with cursor.copy(
                "COPY area (generation_id, code, level, name, name_en, parent_code, households, geom) FROM STDIN"
            ) as copy:
                for row, geom in zip(rows.itertuples(), wkb[start : start + chunk], strict=True):
                    households = None if _missing(row.households) else int(row.households)
                    copy.write_row(
                        (
                            generation,
                            row.code,
                            row.level,
                            row.name,
                            None if _missing(row.name_en) else row.name_en,
                            None if _missing(row.parent_code) else row.parent_code,
                            households,
                            geom,
                        )
                    )
            if progress:
                progress(min(start + chunk, total), total)


def _missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))
