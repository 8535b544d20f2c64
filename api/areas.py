"""Areas as GeoJSON, and point location."""

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.auth import authorize
from api.deps import EngineDep, LocatorDep
from api.errors import Refusal, responses
from geo.areas import area_feature, area_info, children_collection
from geo.crs import CRS

router = APIRouter(
    prefix="/v1", tags=["areas"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503)
)


class Location(BaseModel):
    """Where a point fell, at every level, in the generation that answered."""

    grid: str | None
    community: str | None
    street: str | None
    district: str | None
    method: str
    generation: int
    lon_wgs84: float
    lat_wgs84: float


@router.get("/areas/{code}", response_model=dict[str, Any], responses=responses(404))
def get_area(code: str, engine: EngineDep) -> dict[str, Any]:
    """One area of the active generation as a GeoJSON Feature."""
    with engine.connect() as conn:
        feature = area_feature(conn, code)
    if feature is None:
        raise Refusal("not_found.area", code=code)
    return feature


@router.get("/areas/{code}/children", response_model=dict[str, Any], responses=responses(404))
def get_children(code: str, engine: EngineDep) -> dict[str, Any]:
    """The children of an area as a GeoJSON FeatureCollection."""
    with engine.connect() as conn:
        if area_info(conn, code) is None:
            raise Refusal("not_found.area", code=code)
        return children_collection(conn, code)


@router.get("/locate", response_model=Location)
async def locate(
    locator: LocatorDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude in the given coordinate system")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude in the given coordinate system")],
    crs: CRS = CRS.WGS84,
    accuracy: Annotated[float | None, Query(ge=0, le=10_000, description="Accuracy radius in metres")] = None,
) -> Location:
    """Find the grid (and community, street, district) of one point."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise Refusal("invalid_input.finite")
    index = await run_in_threadpool(locator.index)
    found = index.locate([lon], [lat], crs, None if accuracy is None else [accuracy])
    return Location(
        grid=found.grid(15)[0],
        community=found.grid(12)[0],
        street=found.grid(9)[0],
        district=found.grid(6)[0],
        method=found.methods[0],
        generation=found.generation_id,
        lon_wgs84=float(found.lon[0]),
        lat_wgs84=float(found.lat[0]),
    )
