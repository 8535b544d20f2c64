"""Rebuild the synthetic demo city (Runzhou district, Zhenjiang) bit for bit.

    python data/boundaries/recipe.py

Everything here is invented except the district's name, its administrative code
(321111) and the names of its streets; shapes and numbers are synthetic.
"""

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping

SEED = 321111
OUT = Path(__file__).with_name("runzhou")
HOUSEHOLDS_PER_GRID = 300
TOTAL_HOUSEHOLDS = 100_000

DISTRICT = ("321111", "润州区", "Runzhou District")
# (Chinese name, English name, number of communities)
STREETS = [
    ("金山街道", "Jinshan Subdistrict", 2),
    ("和平路街道", "Hepinglu Subdistrict", 2),
    ("宝塔路街道", "Baotalu Subdistrict", 2),
    ("七里甸街道", "Qilidian Subdistrict", 2),
    ("官塘桥街道", "Guantangqiao Subdistrict", 2),
    ("蒋乔街道", "Jiangqiao Subdistrict", 2),
    ("南山街道", "Nanshan Subdistrict", 3),
]
COMMUNITY_NAMES = ["一", "二", "三"]

# A hand-drawn outline roughly where Runzhou lies (lon, lat).
OUTLINE = [
    (119.330, 32.205),
    (119.352, 32.228),
    (119.385, 32.236),
    (119.420, 32.232),
    (119.452, 32.224),
    (119.468, 32.205),
    (119.462, 32.180),
    (119.445, 32.158),
    (119.418, 32.140),
    (119.385, 32.134),
    (119.356, 32.146),
    (119.336, 32.170),
]


def buildings(rng: np.random.Generator, district: Polygon) -> tuple[np.ndarray, np.ndarray]:
    """Building points, denser towards the old town in the north-east, with household counts."""
    xmin, ymin, xmax, ymax = district.bounds
    points: list[tuple[float, float]] = []
    households: list[int] = []
    centre = np.array([119.43, 32.205])
    while sum(households) < TOTAL_HOUSEHOLDS:
        x, y = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        distance = float(np.hypot(x - centre[0], (y - centre[1]) * 1.2))
        if rng.uniform() > np.exp(-distance / 0.05) + 0.15 or not district.contains(shapely.Point(x, y)):
            continue
        points.append((x, y))
        households.append(int(rng.integers(6, 40)))
    return np.array(points), np.array(households)


def kmeans(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Weighted Lloyd iterations from seeded starting centres."""
    centres = points[rng.choice(len(points), size=k, replace=False)]
    for _ in range(30):
        label = np.argmin(((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
        for i in range(k):
            mask = label == i
            if mask.any():
                centres[i] = np.average(points[mask], axis=0, weights=weights[mask])
    return centres


def voronoi_split(area: Polygon, centres: np.ndarray) -> list[MultiPolygon]:
    """Voronoi cells of ``centres`` clipped to ``area``, in the order of the centres."""
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(centres), extend_to=area))
    ordered = []
    for centre in centres:
        cell = next(c for c in cells if c.contains(shapely.Point(centre)))
        ordered.append(as_multi(cell.intersection(area)))
    return ordered


def bisect(area: MultiPolygon, points: np.ndarray, weights: np.ndarray, k: int) -> list[MultiPolygon]:
    """Cut ``area`` into ``k`` parts of about equal weight by recursive axis-aligned cuts."""
    if k == 1:
        return [area]
    left_k = k // 2
    xmin, ymin, xmax, ymax = area.bounds
    axis = 0 if (xmax - xmin) * np.cos(np.radians(32.2)) > (ymax - ymin) else 1
    order = np.argsort(points[:, axis], kind="stable")
    cumulative = np.cumsum(weights[order])
    cut_at = int(np.searchsorted(cumulative, cumulative[-1] * left_k / k))
    cut_at = min(max(cut_at, 0), len(order) - 2)
    cut = float((points[order[cut_at], axis] + points[order[cut_at + 1], axis]) / 2)
    pad = 1.0
    if axis == 0:
        low, high = box(xmin - pad, ymin - pad, cut, ymax + pad), box(cut, ymin - pad, xmax + pad, ymax + pad)
    else:
        low, high = box(xmin - pad, ymin - pad, xmax + pad, cut), box(xmin - pad, cut, xmax + pad, ymax + pad)
    is_low = points[:, axis] < cut
    return bisect(as_multi(area.intersection(low)), points[is_low], weights[is_low], left_k) + bisect(
        as_multi(area.intersection(high)), points[~is_low], weights[~is_low], k - left_k
    )


def as_multi(geometry: shapely.Geometry) -> MultiPolygon:
    """The polygonal parts as a MultiPolygon."""
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type == "Polygon" and p.area > 0]
    return MultiPolygon(parts)


def inside(area: MultiPolygon, points: np.ndarray) -> np.ndarray:
    """Mask of the points covered by ``area``."""
    return np.asarray(shapely.covers(area, shapely.points(points)))


def feature(code: str, name: str, name_en: str, geometry: MultiPolygon, households: int | None) -> dict:  # type: ignore[type-arg]
    """A GeoJSON feature with the import's field names."""
    properties: dict[str, object] = {"code": code, "name": name, "name_en": name_en}
    if households is not None:
        properties["households"] = households
    return {"type": "Feature", "properties": properties, "geometry": mapping(geometry)}


def build() -> dict[str, list[dict]]:  # type: ignore[type-arg]
    """All layers of the demo city."""
    rng = np.random.default_rng(SEED)
    district = Polygon(OUTLINE)
    points, households = buildings(rng, district)
    layers: dict[str, list[dict]] = {"district": [], "streets": [], "communities": [], "grids": [], "buildings": []}  # type: ignore[type-arg]
    layers["district"].append(feature(DISTRICT[0], DISTRICT[1], DISTRICT[2], MultiPolygon([district]), None))
    street_centres = kmeans(points, households.astype(float), len(STREETS), rng)
    street_centres = street_centres[np.lexsort((street_centres[:, 0], -street_centres[:, 1]))]
    for s, ((name, name_en, communities), street_area) in enumerate(
        zip(STREETS, voronoi_split(district, street_centres), strict=True), start=1
    ):
        street_code = f"{DISTRICT[0]}{s:03d}"
        layers["streets"].append(feature(street_code, name, name_en, street_area, None))
        in_street = inside(street_area, points)
        community_areas = bisect(street_area, points[in_street], households[in_street], communities)
        for c, community_area in enumerate(community_areas, start=1):
            community_code = f"{street_code}{c:03d}"
            short = name.removesuffix("街道")
            layers["communities"].append(
                feature(
                    community_code,
                    f"{short}{COMMUNITY_NAMES[c - 1]}社区",
                    f"{name_en.removesuffix(' Subdistrict')} Community {c}",
                    community_area,
                    None,
                )
            )
            in_community = inside(community_area, points) & in_street
            total = int(households[in_community].sum())
            grid_count = max(1, round(total / HOUSEHOLDS_PER_GRID))
            grid_areas = bisect(community_area, points[in_community], households[in_community], grid_count)
            for g, grid_area in enumerate(grid_areas, start=1):
                in_grid = inside(grid_area, points) & in_community
                layers["grids"].append(
                    feature(
                        f"{community_code}{g:03d}",
                        f"{short}{COMMUNITY_NAMES[c - 1]}社区第{g}网格",
                        f"Grid {g}",
                        grid_area,
                        int(households[in_grid].sum()),
                    )
                )
    for i, ((x, y), count) in enumerate(zip(points, households, strict=True), start=1):
        layers["buildings"].append(
            {
                "type": "Feature",
                "properties": {"building": i, "households": int(count)},
                "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
            }
        )
    return layers


def main() -> None:
    """Write one GeoJSON file per layer."""
    OUT.mkdir(exist_ok=True)
    for layer, features in build().items():
        collection = {"type": "FeatureCollection", "name": f"runzhou_{layer}", "synthetic": True, "features": features}
        (OUT / f"{layer}.geojson").write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n")
        print(f"{layer}: {len(features)} features")


if __name__ == "__main__":
    main()
