"""Point location as a pure function, checked against shapely's own predicates."""

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geo.crs import from_wgs84, to_wgs84
from geo.grid_index import GridIndex, haversine_m

X0, Y0 = 119.40, 32.20
# A 4 × 3 tiling of 0.005° squares, codes in reading order.
SQUARES = [
    box(X0 + i * 0.005, Y0 + j * 0.005, X0 + (i + 1) * 0.005, Y0 + (j + 1) * 0.005) for j in range(3) for i in range(4)
]
CODES = [f"999001001001{k:03d}" for k in range(1, 13)]


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex(7, CODES, SQUARES, tolerance_m=50)


def test_points_inside_get_their_grid_and_all_levels(index: GridIndex) -> None:
    found = index.locate([X0 + 0.0025, X0 + 0.0175], [Y0 + 0.0025, Y0 + 0.0125])
    assert found.grid() == [CODES[0], CODES[11]]
    assert found.grid(12) == ["999001001001"] * 2
    assert found.grid(9) == ["999001001"] * 2
    assert found.grid(6) == ["999001"] * 2
    assert found.methods == ["inside", "inside"]
    assert found.generation_id == 7


def test_a_point_on_a_shared_edge_gets_the_lowest_code_every_time(index: GridIndex) -> None:
    x, y = X0 + 0.005, Y0 + 0.0025  # edge between grids 001 and 002
    corner = (X0 + 0.005, Y0 + 0.005)  # corner of 001, 002, 005, 006
    for _ in range(3):
        found = index.locate([x, corner[0]], [y, corner[1]])
        assert found.grid() == [CODES[0], CODES[0]]


def test_outside_points_snap_within_the_tolerance_or_accuracy_else_none(index: GridIndex) -> None:
    step = 30 / 111_195  # 30 m south of the bottom edge
    far = 200 / 111_195
    found = index.locate(
        [X0 + 0.001, X0 + 0.001, X0 + 0.001, float("nan")],
        [Y0 - step, Y0 - far, Y0 - far, Y0],
        accuracy_m=[0, 0, 250, 0],
    )
    assert found.grid() == [CODES[0], None, CODES[0], None]
    assert found.methods == ["nearest", "none", "nearest", "none"]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(X0 - 0.002, X0 + 0.022), st.floats(Y0 - 0.002, Y0 + 0.017)), min_size=1, max_size=200)
)
def test_agrees_with_shapely_for_any_points(points: list[tuple[float, float]]) -> None:
    index = GridIndex(1, CODES, SQUARES, tolerance_m=0)
    xy = np.array(points)
    found = index.locate(xy[:, 0], xy[:, 1])
    for (x, y), code in zip(points, found.grid(), strict=True):
        hits = [c for c, g in zip(CODES, SQUARES, strict=True) if shapely.intersects_xy(g, x, y)]
        assert code == (min(hits) if hits else None)


def test_random_voronoi_grids_match_an_strtree_query() -> None:
    rng = np.random.default_rng(5)
    seeds = rng.uniform([X0, Y0], [X0 + 0.1, Y0 + 0.1], size=(500, 2))
    extent = box(X0, Y0, X0 + 0.1, Y0 + 0.1)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=extent)), extent
    )
    codes = np.array([f"999001001{i:06d}" for i in range(cells.size)])
    index = GridIndex(1, codes, cells, tolerance_m=0)
    q = rng.uniform([X0, Y0], [X0 + 0.1, Y0 + 0.1], size=(20_000, 2))
    found = np.array(index.locate(q[:, 0], q[:, 1]).grid(), dtype=object)
    point_i, cell_i = shapely.STRtree(cells).query(shapely.points(q), predicate="intersects")
    expected = np.full(len(q), None, dtype=object)
    for p, c in sorted(zip(point_i, cell_i, strict=True), key=lambda pc: (pc[0], codes[pc[1]]), reverse=True):
        expected[p] = codes[c]
    assert (found == expected).all()
    # One post's shortcut: a whole cell's grid is the grid locate gives; most points have one.
    whole = [index.whole_cell_grid(float(x), float(y)) for x, y in q]
    assert all(w == f for w, f in zip(whole, found, strict=True) if w is not None)
    assert sum(w is not None for w in whole) > 0.5 * len(q)
    assert index.whole_cell_grid(X0 - 1, Y0) is None
    assert index.whole_cell_grid(float("nan"), Y0) is None


def test_gcj02_and_bd09_round_trip_below_5_cm() -> None:
    rng = np.random.default_rng(3)
    for lon, lat in rng.uniform([119.3, 32.1], [119.5, 32.3], size=(200, 2)):
        for crs in ("gcj02", "bd09"):
            x, y = from_wgs84(lon, lat, crs)
            assert haversine_m(x, y, lon, lat) > 100  # the offset is real
            back_x, back_y = to_wgs84([x], [y], crs)
            assert haversine_m(back_x, back_y, lon, lat)[0] < 0.05


@given(
    lon=st.floats(min_value=-180, max_value=180, allow_nan=False),
    lat=st.floats(min_value=-90, max_value=90, allow_nan=False),
    crs=st.sampled_from(["gcj02", "bd09"]),
)
def test_any_valid_coordinate_converts_without_error(lon: float, lat: float, crs: str) -> None:
    x, y = to_wgs84([lon], [lat], crs)
    assert np.isfinite(x[0]) and np.isfinite(y[0])
    if not (72 <= lon <= 138 and 0.8 <= lat <= 56):  # the offsets apply in China only
        assert (x[0], y[0]) == (lon, lat)


def test_the_poles_in_gcj02_are_left_as_they_are() -> None:
    x, y = to_wgs84([-180.0], [-90.0], "gcj02")
    assert (x[0], y[0]) == (-180.0, -90.0)
