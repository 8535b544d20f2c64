"""Which of a set of polygons holds each point: upper-level areas for points in no grid, special grids for all."""

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray


class AreaTree:
    """Polygons with codes; a point held by several gets the most precise (longest, then lowest) code."""

    def __init__(self, codes: ArrayLike, geometries: ArrayLike) -> None:
        codes = np.asarray(codes, dtype=object).astype(str)
        order = sorted(range(codes.size), key=lambda i: (-len(codes[i]), codes[i]))
        self.codes = codes[order]
        self.geometries = np.asarray(geometries, dtype=object)[order]
        self.tree = shapely.STRtree(self.geometries)

    def __len__(self) -> int:
        return int(self.codes.size)

    def find(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> list[str | None]:
        """The code holding each point (on an edge counts), None where none does."""
        found: list[str | None] = [None] * x.size
        if not len(self) or not x.size:
            return found
        point, area = self.tree.query(shapely.points(x, y), predicate="intersects")
        best = np.full(x.size, self.codes.size, dtype=np.int64)
        np.minimum.at(best, point, area)
        for i in np.flatnonzero(best < self.codes.size):
            found[i] = str(self.codes[best[i]])
        return found
