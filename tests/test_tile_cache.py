"""The server's copy of the grid tiles: bounded, and never older than the boundary set."""

from datetime import timedelta

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Principal, Role
from api.accounts import add_users
from api.app import create_app
from api.auth import issue_token
from api.settings import Settings
from api.tilecache import TileCache
from geo.boundaries import FieldMap, import_layer, read_layer
from geo.demo import DEMO_DIR, load_demo
from geo.levels import Level
from tests.pipeline_fixtures import tile_of


def test_the_least_recently_used_tiles_go_first_and_the_cache_holds_its_size() -> None:
    cache = TileCache(max_bytes=10)
    built: list[str] = []

    def tile(key: str, size: int) -> bytes:
        return cache.get(key, lambda: built.append(key) or b"x" * size)  # type: ignore[func-returns-value]

    tile("a", 4), tile("b", 4), tile("a", 4)  # a is used again: b is now the oldest
    tile("c", 4)  # 12 bytes > 10: b goes
    assert built == ["a", "b", "c"] and cache.size == 8 and len(cache) == 2
    tile("a", 4), tile("b", 4)
    assert built == ["a", "b", "c", "b"]  # a was kept, b built again (c went for it)
    assert tile("big", 11) == b"x" * 11  # larger than the whole cache: answered, not kept (a and b stay)
    tile("big", 11), tile("a", 4), tile("b", 4)
    assert built == ["a", "b", "c", "b", "big", "big"] and cache.size == 8
    assert cache.hits == 4 and cache.misses == 6
    empty = TileCache(max_bytes=0)
    assert empty.get("a", lambda: b"tile") == b"tile" and len(empty) == 0  # 0 keeps nothing


@pytest.fixture
def city(scratch_settings: Settings, scratch_engine: Engine) -> Settings:
    """The demo city in a database of the test's own, and a commander."""
    load_demo(scratch_engine)
    add_users(scratch_engine, [("commander", Role.COMMANDER, "*", "")], "tile-password")
    return scratch_settings


def test_a_new_boundary_set_is_never_answered_from_the_cache(city: Settings, scratch_engine: Engine) -> None:
    token = issue_token(city.api.secret_key, Principal("commander", Role.COMMANDER, "*"), timedelta(hours=1))
    grids = read_layer(DEMO_DIR / "grids.geojson", Level.GRID, FieldMap())
    x, y = tile_of(*grids.geometry.iloc[0].representative_point().coords[0], 15)
    path = f"/v1/map/tiles/15/{x}/{y}.mvt"
    with TestClient(create_app(city)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        first = client.get(path)
        assert client.get(path).content == first.content and client.app.state.tiles.hits == 1  # type: ignore[attr-defined]
        grids["name"] = grids["name"] + "（新）"  # the district renames its grids: a new generation
        import_layer(scratch_engine, grids, Level.GRID, source="test:renamed")
        renamed = client.get(path)
    assert renamed.headers["etag"] != first.headers["etag"]
    names = {f["properties"]["name"] for f in mapbox_vector_tile.decode(renamed.content)["grids"]["features"]}
    assert names and all(name.endswith("（新）") for name in names)
