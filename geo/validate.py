"""Topology checks of a boundary set: geometry, codes, parents, containment, overlaps, gaps."""

from dataclasses import asdict, dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.levels import Level

HOUSEHOLDS_MIN, HOUSEHOLDS_MAX = 150, 500
M_PER_DEG_LAT = 111_195.0  # mean metres per degree on the WGS84 sphere of equal area
COLUMNS = ["code", "level", "name", "name_en", "parent_code", "households", "geometry"]


@dataclass(frozen=True)
class Finding:
    """One problem found in a boundary set."""

    severity: Literal["error", "warning"]
    check: str
    codes: tuple[str, ...]
    message: str
    area_m2: float | None = None
    where: str | None = None  # WKT point inside the problem area

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self) | {"codes": list(self.codes)}


@dataclass(frozen=True)
class Fix:
    """What make_valid changed in one area."""

    code: str
    reason: str
    area_before_m2: float
    area_after_m2: float


def area_m2(geometry: BaseGeometry) -> float:
    """Area in m² of a lon/lat geometry of city size (scaled at its own latitude).

    Topology is computed on lon/lat as stored, where shared edges are exact; only
    the reported areas are converted.
    """
    if geometry.is_empty:
        return 0.0
    lat = np.radians(shapely.centroid(geometry).y)
    return float(geometry.area * M_PER_DEG_LAT * M_PER_DEG_LAT * np.cos(lat))


def _where(geometry: BaseGeometry) -> str:
    return str(shapely.to_wkt(shapely.point_on_surface(geometry), rounding_precision=7))


def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The polygonal part of ``geometry`` as a MultiPolygon (make_valid may add lines)."""
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polygons)


def fix_geometries(areas: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[Fix]]:
    """Apply make_valid to invalid geometries and report what changed."""
    invalid = ~shapely.is_valid(areas.geometry.values)
    if not invalid.any():
        return areas, []
    fixed = areas.copy()
    fixes = []
    for index in np.flatnonzero(invalid):
        before = areas.geometry.iloc[index]
        after = polygonal(shapely.make_valid(before))
        fixed.iloc[index, fixed.columns.get_loc("geometry")] = after
        fixes.append(Fix(str(areas.code.iloc[index]), shapely.is_valid_reason(before), area_m2(before), area_m2(after)))
    return fixed, fixes


def validate(areas: gpd.GeoDataFrame, tolerance_m2: float = 1.0) -> list[Finding]:
    """Check a whole boundary set (all levels of one generation); errors first."""
    findings: list[Finding] = []
    if areas.empty:
        return findings
    reasons = shapely.is_valid_reason(areas.geometry.values)
    for code, reason in zip(areas.code, reasons, strict=True):
        if reason != "Valid Geometry":
            findings.append(Finding("error", "invalid_geometry", (code,), f"{code}: {reason}"))
    # Checks below work on repaired shapes so one broken polygon does not hide the rest.
    work = areas.copy()
    work["geometry"] = [
        g if r == "Valid Geometry" else polygonal(shapely.make_valid(g))
        for g, r in zip(areas.geometry.values, reasons, strict=True)
    ]
    findings += _check_codes(work)
    parents = work.drop_duplicates("code").set_index("code")
    findings += _check_parents(work, parents, tolerance_m2)
    findings += _check_siblings(work, parents, tolerance_m2)
    findings += _check_households(work)
    return sorted(findings, key=lambda f: (f.severity != "error", f.check, f.codes))


def _check_codes(work: gpd.GeoDataFrame) -> list[Finding]:
    findings = []
    for code, count in work.code.value_counts().items():
        if count > 1:
            findings.append(Finding("error", "duplicate_code", (str(code),), f"code {code} appears {count} times"))
    for row in work.itertuples():
        level = Level(row.level)
        if not (isinstance(row.code, str) and row.code.isdigit() and len(row.code) == level.code_length):
            findings.append(
                Finding(
                    "error", "bad_code", (str(row.code),), f"{row.code}: a {level} code has {level.code_length} digits"
                )
            )
        elif level.parent and row.parent_code and row.code[:-3] != row.parent_code:
            findings.append(
                Finding(
                    "error",
                    "bad_code",
                    (row.code,),
                    f"{row.code}: does not start with its parent's code {row.parent_code}",
                )
            )
    return findings


def _check_parents(work: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, tolerance_m2: float) -> list[Finding]:
    findings = []
    for row in work[work.level != Level.DISTRICT.value].itertuples():
        parent_level = Level(row.level).parent
        if (
            not row.parent_code
            or row.parent_code not in parents.index
            or (parents.at[row.parent_code, "level"] != parent_level)
        ):
            findings.append(
                Finding(
                    "error",
                    "missing_parent",
                    (row.code,),
                    f"{row.code}: parent {parent_level} {row.parent_code or '(none)'} does not exist",
                )
            )
            continue
        outside = shapely.difference(row.geometry, parents.at[row.parent_code, "geometry"])
        outside_m2 = area_m2(outside)
        if outside_m2 > tolerance_m2:
            findings.append(
                Finding(
                    "error",
                    "outside_parent",
                    (row.code, row.parent_code),
                    f"{row.code}: {outside_m2:,.1f} m² lie outside its parent {row.parent_code}",
                    outside_m2,
                    _where(outside),
                )
            )
    return findings


def _check_siblings(work: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, tolerance_m2: float) -> list[Finding]:
    findings = []
    groups = work.groupby(work.parent_code.fillna(""), sort=True)
    for parent_code, siblings in groups:
        geoms = siblings.geometry.values
        codes = siblings.code.values
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        for i, j in zip(left, right, strict=True):
            if i >= j:
                continue
            overlap = shapely.intersection(geoms[i], geoms[j])
            overlap_m2 = area_m2(overlap)
            if overlap_m2 > tolerance_m2:
                findings.append(
                    Finding(
                        "error",
                        "overlap",
                        (codes[i], codes[j]),
                        f"{codes[i]} and {codes[j]} overlap by {overlap_m2:,.1f} m²",
                        overlap_m2,
                        _where(overlap),
                    )
                )
        if not parent_code or parent_code not in parents.index:
            continue
        gap = shapely.difference(parents.at[parent_code, "geometry"], shapely.union_all(geoms))
        for piece in shapely.get_parts(gap):
            piece_m2 = area_m2(piece)
            if piece_m2 > tolerance_m2:
                findings.append(
                    Finding(
                        "error",
                        "gap",
                        (str(parent_code),),
                        f"{piece_m2:,.1f} m² of {parent_code} are covered by none of its children",
                        piece_m2,
                        _where(piece),
                    )
                )
    return findings


def _check_households(work: gpd.GeoDataFrame) -> list[Finding]:
    findings = []
    for row in work[work.level == Level.GRID.value].itertuples():
        if row.households is None or pd.isna(row.households):
            findings.append(Finding("error", "missing_households", (row.code,), f"grid {row.code} has no households"))
        elif not HOUSEHOLDS_MIN <= row.households <= HOUSEHOLDS_MAX:
            findings.append(
                Finding(
                    "warning",
                    "households_range",
                    (row.code,),
                    f"grid {row.code} has {int(row.households)} households "
                    f"(expected {HOUSEHOLDS_MIN}–{HOUSEHOLDS_MAX})",
                )
            )
    return findings
