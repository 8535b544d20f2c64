"""Reports from outside: where a point falls, checked before a report is taken in.

A gridworker reports from their own grid: a point more than the location tolerance
outside it is refused (422), naming the nearest grid and its distance, so the phone
can show what is wrong before anything is accepted. A building head (楼栋长) reports
incidents at their buildings: the same tolerance holds around the buildings. Anyone else's report outside every
district the platform serves is refused (422 naming the field; 400 for Open311, whose
clients read every input error as 400), so no case is left without an area. A point
inside a district but in no grid (a coverage gap) is taken in: it goes to that
district's intake.
"""

import logging
from typing import Any

import numpy as np
from fastapi.concurrency import run_in_threadpool
from numpy.typing import NDArray
from sqlalchemy import Engine

from api.access import Principal, Role
from api.errors import Refusal, problem
from geo.crs import point_to_wgs84, to_wgs84_mixed
from geo.grid_index import GridIndex
from geo.locator import Locator
from registers.store import building_distances
from streams.schema import Event, Kind, Location

log = logging.getLogger(__name__)


async def current_index(locator: Locator) -> GridIndex:
    """The location index; read in a thread only when it is due for a check of the active generation."""
    return locator.index() if locator.fresh() else await run_in_threadpool(locator.index)


def _wgs84(locations: list[Location]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return to_wgs84_mixed([p.lon for p in locations], [p.lat for p in locations], [p.crs.value for p in locations])


def _in_whole_cell(index: GridIndex, location: Location, grid: str | None = None) -> bool:
    """Whether one point lies in a cell of the index wholly inside a grid (``grid``, if named).

    The common case, answered without the array steps (see ``GridIndex.whole_cell_grid``); False decides nothing.
    """
    found = index.whole_cell_grid(*point_to_wgs84(location.lon, location.lat, location.crs.value))
    return found is not None and (grid is None or found == grid)


def in_own_grid(index: GridIndex, events: list[Event], principal: Principal, *, batch: bool) -> None:
    """422 for a gridworker's event more than the tolerance outside their grid (others' posts pass)."""
    if principal.role is not Role.GRIDWORKER:
        return
    if len(events) == 1 and _in_whole_cell(index, events[0].location, principal.scope):
        return
    lon, lat = _wgs84([e.location for e in events])
    distances = index.distance_m(lon, lat, principal.scope)
    if distances is None:  # their grid is not in the active set: an account to mend, not a report to lose
        log.warning("gridworker %s has grid %s, which the active set lacks", principal.username, principal.scope)
        return
    problems: list[dict[str, Any]] = []
    for n in np.flatnonzero(distances > index.tolerance_m):
        nearest = index.nearest(float(lon[n]), float(lat[n]))
        field = f"events.{n}.location" if batch else "location"
        at = {"metres": round(float(distances[n])), "grid": principal.scope, "tolerance": round(index.tolerance_m)}
        found = (
            problem(field, "field.outside_grid_near", **at, nearest=nearest[0], nearest_metres=round(nearest[1]))
            if nearest
            else problem(field, "field.outside_grid", **at)
        )
        found |= {
            "nearest_grid": nearest[0] if nearest else None,
            "nearest_m": round(nearest[1], 1) if nearest else None,
        }
        problems.append(found)
    if problems:
        raise Refusal("invalid_input.outside_grid", problems, n=len(problems))


def in_served_area(index: GridIndex, locations: list[Location], fields: list[str], kind: str = "invalid_input") -> None:
    """A refusal of ``kind`` (422 by default) for points in no district the platform serves (nor near any grid)."""
    if len(locations) == 1 and _in_whole_cell(index, locations[0]):
        return
    lon, lat = _wgs84(locations)
    problems = [
        problem(field, "field.outside_platform", lon=p.lon, lat=p.lat, crs=p.crs.value)
        for field, p, place in zip(fields, locations, index.locate(lon, lat).place(), strict=True)
        if place is None
    ]
    if problems:
        raise Refusal(f"{kind}.outside_platform", problems, n=len(problems))


def in_place(index: GridIndex, events: list[Event], principal: Principal, *, batch: bool) -> None:
    """A gridworker reports from their own grid; anyone else from inside the area the platform serves."""
    if principal.role is Role.GRIDWORKER:
        in_own_grid(index, events, principal, batch=batch)
        return
    fields = [f"events.{n}.location" for n in range(len(events))] if batch else ["location"]
    in_served_area(index, [e.location for e in events], fields)


def _distances(engine: Engine, codes: tuple[str, ...], lon: list[float], lat: list[float]) -> list[float]:
    with engine.connect() as conn:
        return building_distances(conn, codes, lon, lat)


async def at_own_buildings(
    engine: Engine, tolerance_m: float, events: list[Event], principal: Principal, *, batch: bool
) -> None:
    """422 for a building head's event other than an incident, or more than the tolerance from their buildings."""
    if principal.buildings is None:
        return
    lon, lat = _wgs84([e.location for e in events])
    distances = await run_in_threadpool(_distances, engine, principal.buildings, lon.tolist(), lat.tolist())
    problems = []
    for n, (event, metres) in enumerate(zip(events, distances, strict=True)):
        prefix = f"events.{n}." if batch else ""
        if event.kind is not Kind.INCIDENT:
            problems.append(problem(prefix + "kind", "field.building_head_kind", kind=event.kind.value))
        elif metres > tolerance_m:
            shown = "∞" if metres == float("inf") else round(metres)
            problems.append(
                problem(prefix + "location", "field.outside_buildings", metres=shown, tolerance=round(tolerance_m))
            )
    if problems:
        raise Refusal("invalid_input.building_head", problems, n=len(problems))
