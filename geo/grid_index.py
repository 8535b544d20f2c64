"""Point-to-grid location over a whole batch, against an in-memory index of one generation.

The index is a raster of cells over the grids' extent. A cell wholly inside one grid
answers without any geometry test; the others keep the grids that touch them and
are resolved by exact point-in-polygon tests, one candidate round at a time. Points
in no grid may snap to the nearest grid within a radius.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.area_tree import AreaTree
from geo.crs import CRS, to_wgs84, to_wgs84_mixed

EARTH_RADIUS_M = 6_371_008.8
INTERIOR_FREE = -1  # cell touches no grid
INTERIOR_MIXED = -2  # cell needs exact tests
MAX_SNAP_M = 500.0


class Method(StrEnum):
    """How a point was placed."""

    INSIDE = "inside"
    NEAREST = "nearest"
    NONE = "none"


_METHODS = np.array([Method.INSIDE.value, Method.NEAREST.value, Method.NONE.value], dtype=object)


@dataclass(frozen=True)
class Located:
    """Where each point of a batch fell: grid index into ``codes`` (-1: none) and how.

    ``outer`` is, for a point in no grid, the most precise community, street or district
    holding it (a coverage gap), and ``special`` the special grid holding each point.
    """

    generation_id: int
    codes: NDArray[Any]
    grid_index: NDArray[np.int64]
    method_index: NDArray[np.int8]
    lon: NDArray[np.float64] = field(repr=False)
    lat: NDArray[np.float64] = field(repr=False)
    outer: list[str | None] = field(default_factory=list, repr=False)
    special: list[str | None] = field(default_factory=list, repr=False)

    def place(self) -> list[str | None]:
        """The most precise code of each point: its grid, else the area of a gap that holds it."""
        outer = self.outer or [None] * len(self.grid_index)
        return [str(self.codes[i]) if i >= 0 else out for i, out in zip(self.grid_index, outer, strict=True)]

    def grid(self, level_digits: int = 15) -> list[str | None]:
        """Codes at a level (15 grid, 12 community, 9 street, 6 district), None where no area holds the point."""
        return [code[:level_digits] if code and len(code) >= level_digits else None for code in self.place()]

    @property
    def methods(self) -> list[str]:
        """``inside``, ``nearest`` or ``none`` for each point."""
        return list(_METHODS[self.method_index])


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> NDArray[np.float64]:
    """Great-circle distance in metres."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h)), dtype=np.float64)


class GridIndex:
    """Location index of the grids of one boundary generation."""

    def __init__(
        self,
        generation_id: int,
        codes: ArrayLike,
        geometries: ArrayLike,
        *,
        tolerance_m: float = 50.0,
        cells_per_grid: int = 32,
        outer: AreaTree | None = None,
        special: AreaTree | None = None,
    ) -> None:
        order = np.argsort(np.asarray(codes, dtype=object).astype(str), kind="stable")
        # Sorted by code, so the lowest candidate index is the lowest code: a point on a
        # shared edge always gets the same grid.
        self.codes = np.asarray(codes, dtype=object)[order]
        self._code_text = self.codes.astype(str)
        self.geometries = np.asarray(geometries, dtype=object)[order]
        self.generation_id = generation_id
        self.tolerance_m = tolerance_m
        self.outer = outer  # districts, streets and communities: where a point in no grid lies
        self.special = special  # special grids: a point in one is attributed to it too
        shapely.prepare(self.geometries)
        self.tree = shapely.STRtree(self.geometries)
        self._build_cells(max(1, len(self.codes)) * cells_per_grid)

    def _build_cells(self, target_cells: int) -> None:
        if len(self.codes) == 0:
            self.x0 = self.y0 = 0.0
            self.cell = 1.0
            self.nx = self.ny = 1
            self.owner = np.full(1, INTERIOR_FREE, dtype=np.int32)
            self.cand_start = np.zeros(2, dtype=np.int64)
            self.cand = np.zeros(0, dtype=np.int32)
            return
        xmin, ymin, xmax, ymax = shapely.total_bounds(self.geometries)
        width, height = max(xmax - xmin, 1e-9), max(ymax - ymin, 1e-9)
        self.cell = float(np.sqrt(width * height / target_cells))
        self.nx = int(np.ceil(width / self.cell)) + 1
        self.ny = int(np.ceil(height / self.cell)) + 1
        self.x0, self.y0 = float(xmin), float(ymin)
        ix, iy = np.meshgrid(np.arange(self.nx), np.arange(self.ny))
        cx0 = self.x0 + ix.ravel() * self.cell
        cy0 = self.y0 + iy.ravel() * self.cell
        boxes = shapely.box(cx0, cy0, cx0 + self.cell, cy0 + self.cell)
        cell_of, grid_of = self.tree.query(boxes, predicate="intersects")
        counts = np.bincount(cell_of, minlength=boxes.size)
        owner = np.full(boxes.size, INTERIOR_FREE, dtype=np.int32)
        owner[counts > 0] = INTERIOR_MIXED
        single = counts[cell_of] == 1
        inside = np.zeros(cell_of.size, dtype=bool)
        inside[single] = shapely.contains_properly(self.geometries[grid_of[single]], boxes[cell_of[single]])
        owner[cell_of[inside]] = grid_of[inside]
        mixed = owner[cell_of] == INTERIOR_MIXED
        # Candidates of mixed cells in CSR form, each cell's list in ascending grid order.
        pairs = np.lexsort((grid_of[mixed], cell_of[mixed]))
        mixed_cells, mixed_grids = cell_of[mixed][pairs], grid_of[mixed][pairs]
        self.owner = owner
        self.cand_start = np.zeros(boxes.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(mixed_cells, minlength=boxes.size), out=self.cand_start[1:])
        self.cand = mixed_grids.astype(np.int32)

    def locate(
        self,
        lon: ArrayLike,
        lat: ArrayLike,
        crs: CRS | str | ArrayLike = CRS.WGS84,
        accuracy_m: ArrayLike | None = None,
    ) -> Located:
        """Place each point in a grid; ``crs`` is one system or one per point."""
        if isinstance(crs, str):
            x, y = to_wgs84(lon, lat, crs)
        else:
            x, y = to_wgs84_mixed(lon, lat, crs)
        x, y = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)
        result = np.full(x.size, -1, dtype=np.int64)
        method = np.full(x.size, 2, dtype=np.int8)
        ix = np.floor((x - self.x0) / self.cell)
        iy = np.floor((y - self.y0) / self.cell)
        valid = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)  # False for NaN too
        cells = np.where(valid, iy * self.nx + ix, 0).astype(np.int64)
        owner = np.where(valid, self.owner[cells], INTERIOR_FREE)
        hit = owner >= 0
        result[hit] = owner[hit]
        self._resolve_mixed(x, y, cells, np.flatnonzero(owner == INTERIOR_MIXED), result)
        method[result >= 0] = 0
        self._snap(x, y, accuracy_m, result, method)
        outer: list[str | None] = []
        if self.outer is not None and (result < 0).any():
            outer = [None] * x.size
            unplaced = np.flatnonzero(result < 0)
            for i, code in zip(unplaced, self.outer.find(x[unplaced], y[unplaced]), strict=True):
                outer[i] = code
        special = self.special.find(x, y) if self.special is not None and len(self.special) else []
        return Located(self.generation_id, self.codes, result, method, x, y, outer, special)

    def whole_cell_grid(self, lon: float, lat: float) -> str | None:
        """The grid whose interior holds the whole index cell of a WGS84 point, if one does; else None.

        Most points are answered here in a few operations (one post's point, where ``locate``'s
        array steps cost more than the test); None says only that ``locate`` must decide.
        """
        x = (lon - self.x0) / self.cell
        y = (lat - self.y0) / self.cell
        if not (0 <= x < self.nx and 0 <= y < self.ny):  # NaN fails every comparison
            return None
        owner = int(self.owner[int(y) * self.nx + int(x)])  # int() is floor here: both are >= 0
        return str(self.codes[owner]) if owner >= 0 else None

    def distance_m(self, lon: ArrayLike, lat: ArrayLike, code: str) -> NDArray[np.float64] | None:
        """Metres from each WGS84 point to the grid ``code`` (0 inside), None if this index has no such grid."""
        at = int(np.searchsorted(self._code_text, code))
        if at >= self.codes.size or self.codes[at] != code:
            return None
        x, y = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        distance = np.zeros(x.size)
        grid = self.geometries[at]  # prepared: one vectorised test for the whole batch
        for i in np.flatnonzero(~shapely.intersects_xy(grid, x, y)):
            line = shapely.shortest_line(shapely.Point(x[i], y[i]), grid)
            (x1, y1), (x2, y2) = shapely.get_coordinates(line)
            distance[i] = haversine_m(x1, y1, x2, y2)
        return distance

    def nearest(self, lon: float, lat: float) -> tuple[str, float] | None:
        """The grid nearest to a WGS84 point and its distance in metres (None without grids)."""
        if not len(self.codes):
            return None
        index = int(self.tree.query_nearest(shapely.Point(lon, lat), all_matches=True).min())
        code = str(self.codes[index])
        distance = self.distance_m([lon], [lat], code)
        return code, float(distance[0]) if distance is not None else 0.0

    def _resolve_mixed(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        cells: NDArray[np.int64],
        points: NDArray[np.intp],
        result: NDArray[np.int64],
    ) -> None:
        start = self.cand_start[cells[points]]
        count = self.cand_start[cells[points] + 1] - start
        round_ = 0
        while points.size:
            alive = count > round_
            points, start, count = points[alive], start[alive], count[alive]
            if not points.size:
                break
            grids = self.cand[start + round_]
            inside = shapely.intersects_xy(self.geometries[grids], x[points], y[points])
            result[points[inside]] = grids[inside]
            points, start, count = points[~inside], start[~inside], count[~inside]
            round_ += 1

    def _snap(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        accuracy_m: ArrayLike | None,
        result: NDArray[np.int64],
        method: NDArray[np.int8],
    ) -> None:
        todo = np.flatnonzero((result < 0) & np.isfinite(x) & np.isfinite(y) & (np.abs(y) < 89))
        if not todo.size or not len(self.codes):
            return
        radius = np.full(todo.size, self.tolerance_m)
        if accuracy_m is not None:
            accuracy = np.broadcast_to(np.asarray(accuracy_m, dtype=np.float64), x.shape)[todo]
            radius = np.fmax(radius, np.minimum(np.nan_to_num(accuracy, nan=0.0), MAX_SNAP_M))
        keep = radius > 0
        todo, radius = todo[keep], radius[keep]
        degrees = radius / 111_320.0 / np.cos(np.radians(y[todo]))  # lon degrees are shortest
        points = shapely.points(x[todo], y[todo])
        for i, (point, max_deg, radius_m) in enumerate(zip(points, degrees, radius, strict=True)):
            near = self.tree.query_nearest(point, max_distance=max_deg, all_matches=True)
            if not near.size:
                continue
            grid = int(near.min())
            line = shapely.shortest_line(point, self.geometries[grid])
            (x1, y1), (x2, y2) = shapely.get_coordinates(line)
            if haversine_m(x1, y1, x2, y2) <= radius_m:
                result[todo[i]] = grid
                method[todo[i]] = 1
