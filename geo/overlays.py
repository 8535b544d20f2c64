"""Overlay grid layers kept in step with the management grids (多网融合): party grids and special grids.

The management grid (综治网格) routes cases. A party grid (党建网格) or a special grid
(专属网格: a park, a market, a business district, a campus, an office building) lies over
management grids and names the ones it spans; that statement is checked against the
geometry on every import, of the overlay and of the management grids alike. The layer
shows in the code, in the manner of Beijing's DB11 object-type prefixes: ``DJ`` (党建)
or ``ZS`` (专属), then a grid-style code under the community it belongs to.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection

from geo.validate import OVERLAY_PREFIXES, Finding, area_m2, invalid_geometries, overlaps, polygonal, where

Layer = Literal["party", "special"]
LAYERS: tuple[Layer, ...] = ("party", "special")
PREFIX: dict[Layer, str] = {layer: prefix for prefix, layer in OVERLAY_PREFIXES.items()}  # type: ignore[misc]
KINDS = ("park", "market", "business", "campus", "office")  # 公园、市场、商圈、园区/校园、楼宇
OVERLAY_COLUMNS = ["code", "layer", "kind", "name", "name_en", "owner", "households", "spans", "geometry"]


@dataclass(frozen=True)
class OverlayFields:
    """Which attributes of an overlay file hold its code, name, spans, kind, owner and households."""

    code: str = "code"
    name: str = "name"
    name_en: str = "name_en"
    spans: str = "spans"  # the management grid codes it spans, separated by commas or spaces
    kind: str = "kind"
    owner: str = "owner"
    households: str = "households"


def code_pattern(layer: Layer) -> str:
    """An overlay code: the layer's prefix, then 15 digits (its community's code and a serial)."""
    return rf"^{PREFIX[layer]}\d{{15}}$"


def layer_of(code: str) -> Layer | None:
    """The overlay layer a code's prefix names, or None for a management code."""
    return next((layer for layer in LAYERS if code.startswith(PREFIX[layer])), None)


def empty_overlays() -> gpd.GeoDataFrame:
    """No overlay grids, in the normalised columns."""
    return gpd.GeoDataFrame(columns=OVERLAY_COLUMNS, geometry="geometry", crs=4326)


def overlay_frame(raw: gpd.GeoDataFrame, layer: Layer, fields: OverlayFields, source: str) -> gpd.GeoDataFrame:
    """An overlay file (already in WGS84) in the normalised columns; ``ValueError`` names a missing field."""
    for name in (fields.code, fields.name, fields.spans):
        if name not in raw.columns:
            raise ValueError(f"{source} has no field {name!r}; fields are {sorted(map(str, raw.columns))}")

    def column(name: str) -> list[object]:
        if name not in raw.columns:
            return [None] * len(raw)
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in raw[name]]

    spans = [tuple(c for c in re.split(r"[,\s;，]+", str(v or "")) if c) for v in column(fields.spans)]
    return gpd.GeoDataFrame(
        {
            "code": raw[fields.code].astype(str).str.strip().values,
            "layer": layer,
            "kind": [None if k is None else str(k).strip() for k in column(fields.kind)],
            "name": raw[fields.name].astype(str).values,
            "name_en": column(fields.name_en),
            "owner": [None if o is None or not str(o).strip() else str(o).strip() for o in column(fields.owner)],
            "households": pd.to_numeric(pd.Series(column(fields.households), dtype=object), errors="coerce").values,
            "spans": spans,
        },
        geometry=[polygonal(g) if g is not None else shapely.MultiPolygon() for g in raw.geometry.values],
        crs=4326,
    )[OVERLAY_COLUMNS]


def validate_overlays(overlays: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, tolerance_m2: float = 1.0) -> list[Finding]:
    """Check overlay grids against themselves and the management ``grids`` (code, geometry)."""
    if overlays.empty:
        return []
    findings = invalid_geometries(overlays)
    grid_geoms = dict(zip(grids.code, grids.geometry, strict=True))
    tree_codes = np.asarray(grids.code.values, dtype=object)
    tree = shapely.STRtree(np.asarray(grids.geometry.values, dtype=object))
    for code, count in overlays.code.value_counts().items():
        if count > 1:
            findings.append(Finding("error", "duplicate_code", (str(code),), f"code {code} appears {count} times"))
    for row in overlays.itertuples():
        shape = row.geometry if shapely.is_valid(row.geometry) else polygonal(shapely.make_valid(row.geometry))
        findings += _check_code(row.code, row.layer)
        findings += _check_spans(row, shape, grid_geoms, tree_codes[tree.query(shape)], tolerance_m2)
        if row.layer == "special":
            findings += _check_special(row)
    for _, group in overlays.groupby("layer"):
        findings += overlaps(list(group.code), list(group.geometry), tolerance_m2)
    return findings


def _check_code(code: str, layer: Layer) -> list[Finding]:
    if re.fullmatch(code_pattern(layer), code):
        return []
    message = (
        f"{code}: a {layer} grid's code is {PREFIX[layer]} and 15 digits "
        f"(its community's code and a serial), e.g. {PREFIX[layer]}321111001001801"
    )
    return [Finding("error", "bad_code", (code,), message)]


def _check_spans(
    row: Any, shape: shapely.Geometry, grids: dict[str, shapely.Geometry], near: np.ndarray, tolerance_m2: float
) -> list[Finding]:
    """The grids it names exist, and are those it lies in; nothing of it lies outside them."""
    code, spans = str(row.code), tuple(row.spans)
    findings = [
        Finding("error", "unknown_span", (code, s), f"{code}: spans {s}, which is not a management grid")
        for s in spans
        if s not in grids
    ]
    lies_in = {str(g): area_m2(shapely.intersection(shape, grids[str(g)])) for g in near}
    lies_in = {g: m2 for g, m2 in lies_in.items() if m2 > tolerance_m2}
    if not lies_in:
        findings.append(
            Finding("error", "spans_none", (code,), f"{code}: lies in no management grid", where=where(shape))
        )
        return findings
    for grid in sorted(set(spans) & grids.keys() - lies_in.keys()):
        message = f"{code}: names {grid} but does not lie in it"
        findings.append(Finding("error", "span_not_touched", (code, grid), message, where=where(grids[grid])))
    for grid in sorted(lies_in.keys() - set(spans)):
        message = f"{code}: {lies_in[grid]:,.1f} m² lie in {grid}, which its spans do not name"
        place = where(shapely.intersection(shape, grids[grid]))
        findings.append(Finding("error", "undeclared_span", (code, grid), message, lies_in[grid], place))
    outside = shapely.difference(shape, shapely.union_all([grids[g] for g in lies_in]))
    if (outside_m2 := area_m2(outside)) > tolerance_m2:
        message = f"{code}: {outside_m2:,.1f} m² lie outside every management grid"
        findings.append(Finding("error", "outside_grids", (code,), message, outside_m2, where(outside)))
    communities = {g[:12] for g in lies_in}
    if len(code) == 17 and code[2:14] not in communities:
        message = f"{code}: its code names community {code[2:14]}, but it lies in {', '.join(sorted(communities))}"
        findings.append(Finding("error", "bad_code", (code,), message))
    return findings


def _check_special(row: Any) -> list[Finding]:
    """A special grid has a kind, no households, and (to be seen by anyone but supervisors) an owner."""
    code, kind, owner = str(row.code), row.kind, row.owner
    households = row.households
    findings = []
    if kind not in KINDS:
        message = f"{code}: a special grid's kind is one of {', '.join(KINDS)}, not {kind!r}"
        findings.append(Finding("error", "bad_kind", (code,), message))
    if households is not None and not pd.isna(households) and households > 0:
        message = f"{code}: a special grid has no households (it has {int(households)}); leave the field empty"
        findings.append(Finding("error", "special_households", (code,), message))
    if not owner:
        message = f"{code}: no owner; only the supervisors of the grids it spans will see its cases"
        findings.append(Finding("warning", "no_owner", (code,), message))
    return findings


def read_overlays(conn: Connection, generation_id: int | None) -> gpd.GeoDataFrame:
    """The overlay grids of a generation in the normalised columns."""
    if generation_id is None:
        return empty_overlays()
    frame = gpd.read_postgis(
        "SELECT code, layer, kind, name, name_en, owner, NULL::int AS households, spans, geom AS geometry"
        " FROM overlay_area WHERE generation_id = %(g)s ORDER BY code",
        conn,
        geom_col="geometry",
        params={"g": generation_id},
    )
    frame["spans"] = [tuple(s) for s in frame.spans]
    return frame[OVERLAY_COLUMNS]


def copy_overlays(cursor: Any, generation_id: int, overlays: gpd.GeoDataFrame) -> None:
    """COPY the overlay grids into a (still inactive) generation."""
    geoms = shapely.set_srid(np.array([polygonal(g) for g in overlays.geometry.values], dtype=object), 4326)
    wkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
    statement = "COPY overlay_area (generation_id, code, layer, kind, name, name_en, owner, spans, geom) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row, geom in zip(overlays.itertuples(), wkb, strict=True):
            values = (row.kind, row.name, row.name_en, row.owner)
            kind, name, name_en, owner = (None if v is None or pd.isna(v) else v for v in values)
            copy.write_row((generation_id, row.code, row.layer, kind, name, name_en, owner, list(row.spans), geom))
