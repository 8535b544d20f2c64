"""The demo city: rebuilt bit for bit, valid, and its households add up."""

import json
import runpy
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine

from geo.boundaries import read_layer, revalidate_active
from geo.demo import DEMO_DIR, DEMO_LAYERS
from geo.validate import validate

RECIPE = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "recipe.py"


def test_the_recipe_rebuilds_the_committed_files_exactly() -> None:
    layers = runpy.run_path(str(RECIPE), run_name="recipe")["build"]()
    for layer, features in layers.items():
        committed = json.loads((DEMO_DIR / f"{layer}.geojson").read_text())
        assert committed["features"] == json.loads(json.dumps(features)), layer


def test_the_demo_city_is_valid_and_large_enough() -> None:
    layers = [read_layer(DEMO_DIR / name, level) for name, level in DEMO_LAYERS]
    areas = gpd.GeoDataFrame(pd.concat(layers, ignore_index=True), crs=4326)
    assert [f for f in validate(areas) if f.severity == "error"] == []
    counts = areas.level.value_counts()
    assert counts["district"] == 1 and counts["street"] == 7
    assert 13 <= counts["community"] <= 17
    assert counts["grid"] >= 300
    grids = areas[areas.level == "grid"]
    assert 250 <= grids.households.median() <= 350
    buildings = gpd.read_file(DEMO_DIR / "buildings.geojson")
    joined = gpd.sjoin(buildings, grids[["code", "geometry"]], predicate="within")
    summed = joined.groupby("code")["households"].sum()
    assert (summed.reindex(grids.code).values == grids.households.values).all()


def test_the_loaded_demo_city_validates_in_the_database(demo_city: Engine) -> None:
    result = revalidate_active(demo_city, fix=False)
    assert [f for f in result.findings if f.severity == "error"] == []
    assert result.areas >= 1 + 7 + 13 + 300
