"""Coordinate systems a location can arrive in, and their conversion to WGS84."""

from collections.abc import Callable
from enum import StrEnum

import numpy as np
import prcoords
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


class CRS(StrEnum):
    """Coordinate systems phones and boundary files use in China."""

    WGS84 = "wgs84"  # GPS, EPSG:4326
    CGCS2000 = "cgcs2000"  # EPSG:4490, equal to WGS84 within centimetres
    GCJ02 = "gcj02"  # Amap, Tencent: offset by hundreds of metres
    BD09 = "bd09"  # Baidu: GCJ-02 offset again


EPSG = {CRS.WGS84: "EPSG:4326", CRS.CGCS2000: "EPSG:4490"}
# The spellings a boundary file's coordinate system is given in, after lower-casing and dropping - _ and spaces.
_SPELLINGS = {
    "wgs84": CRS.WGS84,
    "epsg4326": CRS.WGS84,
    "cgcs2000": CRS.CGCS2000,
    "epsg4490": CRS.CGCS2000,
    "gcj02": CRS.GCJ02,
    "bd09": CRS.BD09,
    "bd09ll": CRS.BD09,
}
ACCEPTED = "wgs84 (EPSG:4326), cgcs2000 (EPSG:4490), gcj02 (GCJ-02), bd09 (BD-09) or another EPSG:<code>"


def source_system(text: str) -> CRS | str:
    """The coordinate system a boundary file is in, from its usual spellings; another EPSG code as ``EPSG:N``.

    Raises ValueError naming the accepted values.
    """
    key = "".join(ch for ch in text.lower() if ch not in "-_: ")
    if key in _SPELLINGS:
        return _SPELLINGS[key]
    code = key.removeprefix("epsg")
    if code.isdigit() and key.startswith("epsg"):
        return f"EPSG:{code}"
    raise ValueError(f"unknown coordinate system {text!r}; use {ACCEPTED}")


_INVERSE: dict[CRS, Callable[[prcoords.Coords], prcoords.Coords]] = {
    CRS.GCJ02: prcoords.gcj_wgs_bored,  # iterative inverse: error below a centimetre
    CRS.BD09: prcoords.bd_wgs_bored,
}


def _convert_one(inverse: Callable[[prcoords.Coords], prcoords.Coords], lon: float, lat: float) -> tuple[float, float]:
    point = prcoords.Coords(lat, lon)
    if not prcoords.sanity_in_china_p(point):  # the offsets exist only in China (and diverge near the poles)
        return lon, lat
    result = inverse(point, False)  # type: ignore[call-arg]
    return float(result.lon), float(result.lat)


def point_to_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """One point in ``crs`` in WGS84, as ``to_wgs84`` converts it."""
    crs = CRS(crs)
    return (lon, lat) if crs in (CRS.WGS84, CRS.CGCS2000) else _convert_one(_INVERSE[crs], lon, lat)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: CRS | str) -> tuple[Array, Array]:
    """Convert arrays of lon/lat in ``crs`` to WGS84."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    crs = CRS(crs)
    if crs in (CRS.WGS84, CRS.CGCS2000):
        return x, y
    inverse = _INVERSE[crs]
    out_x, out_y = np.empty_like(x), np.empty_like(y)
    for i in range(x.size):
        out_x.flat[i], out_y.flat[i] = _convert_one(inverse, float(x.flat[i]), float(y.flat[i]))
    return out_x, out_y


def to_wgs84_mixed(lon: ArrayLike, lat: ArrayLike, crs: ArrayLike) -> tuple[Array, Array]:
    """Convert points each with its own coordinate system (an array of ``CRS`` values)."""
    x = np.array(lon, dtype=np.float64)
    y = np.array(lat, dtype=np.float64)
    codes = np.asarray(crs, dtype=object)
    for system in (CRS.GCJ02, CRS.BD09):
        mask = codes == system.value
        if mask.any():
            x[mask], y[mask] = to_wgs84(x[mask], y[mask], system)
    return x, y


def from_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """Convert one WGS84 point to ``crs`` (for simulators and tests)."""
    crs = CRS(crs)
    point = prcoords.Coords(lat, lon)
    if crs is CRS.GCJ02:
        point = prcoords.wgs_gcj(point, False)
    elif crs is CRS.BD09:
        point = prcoords.wgs_bd(point, False)
    return float(point.lon), float(point.lat)
