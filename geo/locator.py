"""The location index of the active generation, swapped when another is activated."""

import logging
import threading
import time

import geopandas as gpd
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from geo.area_tree import AreaTree
from geo.boundaries import active_generation
from geo.grid_index import GridIndex

log = logging.getLogger(__name__)


def load_index(engine: Engine, tolerance_m: float = 50.0) -> GridIndex:
    """Build the index from the active generation (consistent snapshot).

    Grids place points; the areas above them say where a point in no grid lies (a
    coverage gap); special grids attribute the points inside them.
    """
    with engine.connect() as conn, conn.begin():
        generation = active_generation(conn) or 0
        areas = gpd.read_postgis(
            "SELECT code, level, geom FROM area WHERE generation_id = %(g)s",
            conn,
            geom_col="geom",
            params={"g": generation},
        )
        special = gpd.read_postgis(
            "SELECT code, geom FROM overlay_area WHERE generation_id = %(g)s AND layer = 'special'",
            conn,
            geom_col="geom",
            params={"g": generation},
        )
    grids, outer = areas[areas.level == "grid"], areas[areas.level != "grid"]
    return GridIndex(
        generation,
        grids.code.values,
        grids.geom.values,
        tolerance_m=tolerance_m,
        outer=AreaTree(outer.code.values, outer.geom.values),
        special=AreaTree(special.code.values, special.geom.values),
    )


class Locator:
    """Holds the current index; checks for a new active generation at most every ``refresh_s``.

    A rebuild happens beside the old index, which keeps answering until the new one
    replaces it in one assignment.
    """

    def __init__(self, engine: Engine, tolerance_m: float = 50.0, refresh_s: float = 5.0) -> None:
        self._engine = engine
        self._tolerance_m = tolerance_m
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._index: GridIndex | None = None
        self._checked = 0.0

    def fresh(self) -> bool:
        """Whether the index in hand needs no check of the active generation now (``index`` reads no database)."""
        return self._index is not None and time.monotonic() - self._checked <= self._refresh_s

    def index(self) -> GridIndex:
        """The current index, refreshed first if it is due.

        While the database is away the index in hand keeps answering (only a new
        generation goes unnoticed meanwhile); with none in hand the error is raised.
        """
        if self._index is None or time.monotonic() - self._checked > self._refresh_s:
            try:
                self.refresh()
            except DBAPIError:
                if self._index is None:
                    raise
                log.warning("boundary generation check failed; locating with generation %d", self._index.generation_id)
        assert self._index is not None
        return self._index

    def refresh(self) -> bool:
        """Rebuild when the active generation changed; True if it did."""
        with self._lock:
            self._checked = time.monotonic()
            with self._engine.connect() as conn:
                generation = active_generation(conn) or 0
            if self._index is not None and self._index.generation_id == generation:
                return False
            self._index = load_index(self._engine, self._tolerance_m)
            return True
