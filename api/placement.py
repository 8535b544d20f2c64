"""Reports from outside: where a point falls, checked before a report is taken in.

A gridworker reports from their own grid: a point more than the location tolerance
outside it is refused (422), naming the nearest grid and its distance, so the phone
can show what is wrong before anything is accepted. A resident's or another system's
report outside every district the platform serves is refused (400). A point inside a
district but in no grid (a coverage gap) is taken in: it goes to that district's intake.
"""

import logging
from typing import Any

import numpy as np
from fastapi.concurrency import run_in_threadpool
from numpy.typing import NDArray

from api.access import Principal, Role
from api.errors import BadRequest, InvalidInput
from geo.crs import to_wgs84_mixed
from geo.grid_index import GridIndex
from geo.locator import Locator
from streams.schema import Event, Location

log = logging.getLogger(__name__)
OUTSIDE = "outside the area this platform serves"


async def current_index(locator: Locator) -> GridIndex:
    """The location index; read in a thread only when it is due for a check of the active generation."""
    return locator.index() if locator.fresh() else await run_in_threadpool(locator.index)


def _wgs84(locations: list[Location]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return to_wgs84_mixed([p.lon for p in locations], [p.lat for p in locations], [p.crs.value for p in locations])


def in_own_grid(index: GridIndex, events: list[Event], principal: Principal, *, batch: bool) -> None:
    """422 for a gridworker's event more than the tolerance outside their grid (others' posts pass)."""
    if principal.role is not Role.GRIDWORKER:
        return
    lon, lat = _wgs84([e.location for e in events])
    distances = index.distance_m(lon, lat, principal.scope)
    if distances is None:  # their grid is not in the active set: an account to mend, not a report to lose
        log.warning("gridworker %s has grid %s, which the active set lacks", principal.username, principal.scope)
        return
    problems: list[dict[str, Any]] = []
    for n in np.flatnonzero(distances > index.tolerance_m):
        nearest = index.nearest(float(lon[n]), float(lat[n]))
        near = f"the nearest grid is {nearest[0]} at {nearest[1]:,.0f} m" if nearest else "no grid is near"
        problems.append(
            {
                "field": f"events.{n}.location" if batch else "location",
                "problem": f"lies {distances[n]:,.0f} m outside your grid {principal.scope} "
                f"(tolerance {index.tolerance_m:,.0f} m); {near}. Check the position, or report from your grid",
                "nearest_grid": nearest[0] if nearest else None,
                "nearest_m": round(nearest[1], 1) if nearest else None,
            }
        )
    if problems:
        summary = "; ".join(str(p["problem"]) for p in problems[:3])
        raise InvalidInput(f"{len(problems)} event(s) outside your grid: {summary}", problems)


def in_served_area(index: GridIndex, location: Location, field: str = "location") -> None:
    """400 for a point in no district the platform serves (nor within the tolerance of a grid)."""
    lon, lat = _wgs84([location])
    if index.locate(lon, lat).place()[0] is None:
        raise BadRequest(
            f"{field} ({location.lon}, {location.lat}, {location.crs.value}) is {OUTSIDE}; "
            "send a point inside a district it serves (a report from elsewhere belongs to that place's own service)"
        )
