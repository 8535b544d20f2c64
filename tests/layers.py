"""Small hand-made boundary layers for validation tests."""

import geopandas as gpd
from shapely.geometry import MultiPolygon, Polygon, box

from geo.validate import COLUMNS


def area(code: str, level: str, geometry: Polygon | MultiPolygon, households: int | None = None) -> dict[str, object]:
    parent = code[:-3] if level != "district" else None
    return {
        "code": code,
        "level": level,
        "name": f"{level} {code}",
        "name_en": None,
        "parent_code": parent,
        "households": households,
        "geometry": geometry,
    }


def frame(*rows: dict[str, object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(list(rows), columns=COLUMNS, geometry="geometry", crs=4326)


# A district of 0.02° × 0.02° near Zhenjiang, one street, one community, split into two grids.
D, S, C = "999001", "999001001", "999001001001"
X0, Y0 = 119.40, 32.20


def clean_set() -> list[dict[str, object]]:
    whole = box(X0, Y0, X0 + 0.02, Y0 + 0.02)
    return [
        area(D, "district", whole),
        area(S, "street", whole),
        area(C, "community", whole),
        area(C + "001", "grid", box(X0, Y0, X0 + 0.01, Y0 + 0.02), 300),
        area(C + "002", "grid", box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.02), 300),
    ]
