"""Topology checks of a boundary set: geometry, codes, parents, containment, overlaps, gaps.

An import is judged by what it changes (``judged``): an error the new set has and the
active set had too is reported as existing, and blocks nothing.
"""

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.levels import Level

HOUSEHOLDS_MIN, HOUSEHOLDS_MAX = 150, 500
M_PER_DEG_LAT = 111_195.0  # mean metres per degree on the WGS84 sphere of equal area
OVERLAY_PREFIXES = {"DJ": "party", "ZS": "special"}  # overlay codes' prefixes and their layers (geo.overlays)
COLUMNS = ["code", "level", "name", "name_en", "parent_code", "households", "geometry"]


@dataclass(frozen=True)
class Finding:
    """One problem found in a boundary set."""

    severity: Literal["error", "warning", "info"]
    check: str
    codes: tuple[str, ...]
    message: str
    area_m2: float | None = None
    where: str | None = None  # WKT point inside the problem area
    existing: bool = False  # the active set had it before this import

    @property
    def blocking(self) -> bool:
        """An error this import would introduce."""
        return self.severity == "error" and not self.existing

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


def where(geometry: BaseGeometry) -> str:
    """A WKT point inside ``geometry``, to find a problem on a map."""
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


def concerns(finding: Finding) -> str | None:
    """The layer a finding is about: a level, or an overlay layer (its code's prefix).

    A gap is its children's level's; the rest are their first code's.
    """
    if not finding.codes:
        return None
    first = finding.codes[0]
    if first[:2] in OVERLAY_PREFIXES:
        return OVERLAY_PREFIXES[first[:2]]
    level = next((lv for lv in Level if lv.code_length == len(first)), None)
    return level.child if level is not None and finding.check == "gap" else level


def judged(before: list[Finding], after: list[Finding], changed: str | None = None) -> list[Finding]:
    """``after``'s findings, those the active set already had (same check, same codes) marked existing.

    A finding about the ``changed`` level is never existing: that layer is the import's own
    (its gaps, overlaps and codes come with it, whatever the layer it replaces had).
    """
    had = {(f.check, f.codes) for f in before if f.severity == "error"}
    return [replace(f, existing=True) if (f.check, f.codes) in had and concerns(f) != changed else f for f in after]


def validate(
    areas: gpd.GeoDataFrame, tolerance_m2: float = 1.0, partial: frozenset[Level] = frozenset()
) -> list[Finding]:
    """Check a whole boundary set (all levels of one generation); errors first.

    ``partial`` names the levels declared to cover their parents only in part (a pilot):
    the gaps their parents are left with are information, not errors.
    """
    if areas.empty:
        return []
    findings = invalid_geometries(areas)
    reasons = shapely.is_valid_reason(areas.geometry.values)
    # Checks below work on repaired shapes so one broken polygon does not hide the rest.
    work = areas.copy()
    work["geometry"] = [
        g if r == "Valid Geometry" else polygonal(shapely.make_valid(g))
        for g, r in zip(areas.geometry.values, reasons, strict=True)
    ]
    findings += _check_codes(work)
    parents = work.drop_duplicates("code").set_index("code")
    findings += _check_parents(work, parents, tolerance_m2)
    findings += _check_siblings(work, parents, tolerance_m2, partial)
    findings += _check_households(work)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (order[f.severity], f.check, f.codes))


def invalid_geometries(areas: gpd.GeoDataFrame) -> list[Finding]:
    """An error for each area whose geometry is not valid, with the reason."""
    reasons = shapely.is_valid_reason(areas.geometry.values)
    return [
        Finding("error", "invalid_geometry", (code,), f"{code}: {reason}")
        for code, reason in zip(areas.code, reasons, strict=True)
        if reason != "Valid Geometry"
    ]


def overlaps(codes: list[str], geoms: list[BaseGeometry], tolerance_m2: float) -> list[Finding]:
    """An error for each pair of areas that overlap by more than the tolerance."""
    findings = []
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    for i, j in zip(left, right, strict=True):
        if i >= j:
            continue
        overlap = shapely.intersection(geoms[i], geoms[j])
        overlap_m2 = area_m2(overlap)
        if overlap_m2 > tolerance_m2:
            message = f"{codes[i]} and {codes[j]} overlap by {overlap_m2:,.1f} m²"
            findings.append(Finding("error", "overlap", (codes[i], codes[j]), message, overlap_m2, where(overlap)))
    return findings


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
                    where(outside),
                )
            )
    return findings


def _may_leave_part(level: Level, partial: frozenset[Level]) -> bool:
    """Whether a partial ``level`` may cover a parent it is in only in part.

    Streets and communities may (the rest of the parent is the streets or communities not
    drawn yet); grids may not: a community with grids is tiled whole, so a hole in it is an
    error. A partial layer may always leave whole parents without any child.
    """
    return level in partial and level is not Level.GRID


def _check_siblings(
    work: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, tolerance_m2: float, partial: frozenset[Level]
) -> list[Finding]:
    findings = []
    groups = work.groupby(work.parent_code.fillna(""), sort=True)
    present = {Level(v) for v in work.level.unique()}
    for parent in parents[parents.level.isin([lv.value for lv in Level if lv.child in present])].itertuples():
        if str(parent.Index) not in groups.groups:  # a parent none of whose children exist: all of it is a gap
            child = Level(parent.level).child
            assert child is not None
            whole = area_m2(parent.geometry)
            findings.append(
                Finding(
                    "info" if child in partial else "error",
                    "gap",
                    (str(parent.Index),),
                    f"{parent.Index} has no {child.value} areas: all {whole:,.1f} m² are covered by none",
                    whole,
                    where(parent.geometry),
                )
            )
    for parent_code, siblings in groups:
        geoms = siblings.geometry.values
        findings += overlaps(list(siblings.code), list(geoms), tolerance_m2)
        if not parent_code or parent_code not in parents.index:
            continue
        gap = shapely.difference(parents.at[parent_code, "geometry"], shapely.union_all(geoms))
        severity: Literal["error", "info"] = (
            "info" if _may_leave_part(Level(siblings.level.iloc[0]), partial) else "error"
        )
        for piece in shapely.get_parts(gap):
            piece_m2 = area_m2(piece)
            if piece_m2 > tolerance_m2:
                findings.append(
                    Finding(
                        severity,
                        "gap",
                        (str(parent_code),),
                        f"{piece_m2:,.1f} m² of {parent_code} are covered by none of its children",
                        piece_m2,
                        where(piece),
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
