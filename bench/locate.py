"""Point-to-grid location: gridgov's index against per-point PostGIS and geopandas.sjoin.

    python bench/locate.py [--sizes 1000,10000,100000] [--points 1000000] [--postgis-points 5000]

Grids are Voronoi cells over a Zhenjiang-sized extent; points are uniform at random
(no spatial order). Baselines run in the same process on the same data: (a) one
``ST_Contains`` query per point against a GiST-indexed table on the local cluster,
(b) ``geopandas.sjoin`` of all points. Prints points/s and ratios.
"""

import argparse
import io
import time
import uuid

import geopandas as gpd
import numpy as np
import psycopg
import shapely

from api.settings import Settings
from cli.local import postgres
from geo.grid_index import GridIndex

EXTENT = (119.0, 31.9, 119.9, 32.5)


def grids(n: int, rng: np.random.Generator) -> np.ndarray:
    seeds = rng.uniform(EXTENT[:2], EXTENT[2:], size=(n, 2))
    box = shapely.box(*EXTENT)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=box))
    return np.asarray(shapely.intersection(cells, box))


def postgis_rate(settings: Settings, cells: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> float:
    name = f"gridgov_bench_{uuid.uuid4().hex[:6]}"
    postgres.create_database(settings, name, fresh=True)
    conninfo = f"host=127.0.0.1 port={settings.database.local_pg_port} user=postgres dbname={name}"
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE grid (code text, geom geometry(Polygon, 4326))")
            buffer = io.StringIO()
            for i, wkb in enumerate(shapely.to_wkb(shapely.set_srid(cells, 4326), hex=True, include_srid=True)):
                buffer.write(f"{i:015d}\t{wkb}\n")
            with conn.cursor().copy("COPY grid FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            conn.execute("CREATE INDEX ON grid USING gist (geom)")
            conn.execute("ANALYZE grid")
            query = "SELECT code FROM grid WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
            with conn.cursor() as cursor:
                cursor.execute(query, (float(xs[0]), float(ys[0])), prepare=True)
                start = time.perf_counter()
                for x, y in zip(xs, ys, strict=True):
                    cursor.execute(query, (float(x), float(y)), prepare=True)
                    cursor.fetchall()
                return len(xs) / (time.perf_counter() - start)
    finally:
        postgres.drop_database(settings, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--postgis-points", type=int, default=5_000)
    args = parser.parse_args()
    settings = Settings()
    postgres.up(settings)
    rng = np.random.default_rng(42)
    print(
        f"{'grids':>8} {'build s':>8} {'gridgov pts/s':>14} {'PostGIS pts/s':>14} {'sjoin pts/s':>12}"
        f" {'x PostGIS':>10} {'x sjoin':>8}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        cells = grids(n, rng)
        codes = np.array([f"{i:015d}" for i in range(cells.size)])
        start = time.perf_counter()
        index = GridIndex(1, codes, cells, tolerance_m=0)
        build = time.perf_counter() - start
        xy = rng.uniform(EXTENT[:2], EXTENT[2:], size=(args.points, 2))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            found = index.locate(xy[:, 0], xy[:, 1])
            best = min(best, time.perf_counter() - start)
        ours = args.points / best
        assert (found.grid_index >= 0).mean() > 0.999
        points = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=4326)
        polygons = gpd.GeoDataFrame({"code": codes}, geometry=cells, crs=4326)
        start = time.perf_counter()
        gpd.sjoin(points, polygons, predicate="within", how="left")
        sjoin = args.points / (time.perf_counter() - start)
        sample = xy[: args.postgis_points]
        per_point = postgis_rate(settings, cells, sample[:, 0], sample[:, 1])
        print(
            f"{n:>8} {build:>8.1f} {ours:>14,.0f} {per_point:>14,.0f} {sjoin:>12,.0f}"
            f" {ours / per_point:>10.0f} {ours / sjoin:>8.1f}"
        )


if __name__ == "__main__":
    main()
