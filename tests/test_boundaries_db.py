"""Boundary import on the real database: atomic generations, formats, CRS, live swaps."""

import json
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from geo.boundaries import FieldMap, ImportRejected, import_layer, read_layer
from geo.crs import from_wgs84
from geo.grid_index import haversine_m
from geo.levels import Level
from geo.locator import Locator
from tests.layers import X0, Y0, C, D, S, area, clean_set, frame


def _counts(engine: Engine) -> tuple[int, int, int | None]:
    with engine.connect() as conn:
        generations = conn.execute(text("SELECT count(*) FROM boundary_generation")).scalar_one()
        areas = conn.execute(text("SELECT count(*) FROM area")).scalar_one()
        active = conn.execute(text("SELECT id FROM boundary_generation WHERE active")).scalar_one_or_none()
    return generations, areas, active


def _import_clean(engine: Engine) -> None:
    rows = clean_set()
    for level in Level:
        import_layer(engine, frame(*[r for r in rows if r["level"] == level.value]), level, source="test")


def test_a_rejected_import_leaves_nothing_behind(scratch_engine: Engine) -> None:
    _import_clean(scratch_engine)
    before = _counts(scratch_engine)
    assert before == (4, 1 + 2 + 3 + 5, 4)  # each import copies the other levels into a new generation
    overlapping = frame(
        area(C + "001", "grid", box(X0, Y0, X0 + 0.011, Y0 + 0.02), 300),
        area(C + "002", "grid", box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.02), 300),
    )
    with pytest.raises(ImportRejected) as rejected:
        import_layer(scratch_engine, overlapping, Level.GRID, source="bad")
    assert {f.check for f in rejected.value.findings} == {"overlap"}
    assert _counts(scratch_engine) == before

    result = import_layer(scratch_engine, overlapping, Level.GRID, source="forced", allow_errors=True)
    assert _counts(scratch_engine)[2] == result.generation_id != before[2]


def test_the_cli_imports_geojson_geopackage_and_shapefile(
    scratch_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    rows = clean_set()
    runner = CliRunner()
    files = {"district": "d.geojson", "street": "s.gpkg", "community": "c.shp", "grid": "g.geojson"}
    for level, name in files.items():
        layer = frame(*[r for r in rows if r["level"] == level]).drop(columns=["name_en"])
        layer.to_file(tmp_path / name)
        result = runner.invoke(app, ["boundaries", "import", str(tmp_path / name), "--level", level])
        assert result.exit_code == 0, result.output
    bad = frame(
        area(C + "001", "grid", box(X0, Y0, X0 + 0.009, Y0 + 0.02), 300),
        area(C + "002", "grid", box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.02), 300),
    )
    bad.to_file(tmp_path / "bad.geojson")
    result = runner.invoke(app, ["boundaries", "import", str(tmp_path / "bad.geojson"), "--level", "grid", "--json"])
    assert result.exit_code == 1
    findings = json.loads(result.output[: result.output.rindex("]") + 1])
    assert findings[0]["check"] == "gap" and findings[0]["area_m2"] > 1000
    result = runner.invoke(app, ["boundaries", "validate", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []


@pytest.mark.parametrize("system", ["gcj02", "bd09", "EPSG:4490"])
def test_sources_in_chinese_coordinate_systems_are_converted(tmp_path: Path, system: str) -> None:
    original = frame(*clean_set()[3:])
    shifted = original.copy()
    if system != "EPSG:4490":
        shifted["geometry"] = shapely.transform(
            original.geometry.values,
            lambda xy: np.array([from_wgs84(x, y, system) for x, y in xy]),
        )
    shifted.to_file(tmp_path / "grids.geojson")
    layer = read_layer(tmp_path / "grids.geojson", Level.GRID, FieldMap(), source_crs=system)
    for got, want in zip(layer.geometry.values, original.geometry.values, strict=True):
        assert shapely.hausdorff_distance(got, want) * 111_195 < 0.05  # metres, an upper bound here


def test_lookups_see_one_whole_generation_while_a_new_one_is_activated(scratch_engine: Engine) -> None:
    _import_clean(scratch_engine)
    locator = Locator(scratch_engine, refresh_s=0)
    first = locator.index().generation_id
    x, y = X0 + 0.0105, Y0 + 0.01  # in grid 002 now; in grid 001 once the split moves east
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def look() -> None:
        while not stop.is_set():
            found = locator.index().locate([x], [y])
            seen.append((found.generation_id, found.grid()[0]))

    thread = threading.Thread(target=look)
    thread.start()
    moved = frame(
        area(C + "001", "grid", box(X0, Y0, X0 + 0.011, Y0 + 0.02), 300),
        area(C + "002", "grid", box(X0 + 0.011, Y0, X0 + 0.02, Y0 + 0.02), 300),
    )
    second = import_layer(scratch_engine, moved, Level.GRID, source="moved").generation_id
    while not any(g == second for g, _ in seen):
        pass
    stop.set()
    thread.join()
    assert {g for g, _ in seen} == {first, second}
    assert {code for g, code in seen if g == first} == {C + "002"}
    assert {code for g, code in seen if g == second} == {C + "001"}


def test_chinese_coordinates_near_grid_edges_land_in_the_right_grid(demo_city: Engine) -> None:
    grids = gpd.read_postgis(
        "SELECT code, geom FROM active_area a WHERE level = 'grid' ORDER BY code",
        demo_city,
        geom_col="geom",
    )
    index = Locator(demo_city).index()
    rng = np.random.default_rng(11)
    checked = raw_elsewhere = 0
    for row in grids.iloc[rng.choice(len(grids), 40, replace=False)].itertuples():
        inner = shapely.point_on_surface(row.geom)
        edge = (
            row.geom.exterior.interpolate(rng.uniform(0, 1), normalized=True)
            if hasattr(row.geom, "exterior")
            else shapely.get_parts(row.geom)[0].exterior.interpolate(rng.uniform(0, 1), normalized=True)
        )
        step = 3 / max(haversine_m(edge.x, edge.y, inner.x, inner.y), 1)
        x, y = edge.x + (inner.x - edge.x) * step, edge.y + (inner.y - edge.y) * step
        if not row.geom.contains(shapely.Point(x, y)):
            continue
        checked += 1
        for system in ("gcj02", "bd09"):
            sx, sy = from_wgs84(x, y, system)
            found = index.locate([sx], [sy], system)
            assert found.grid() == [row.code], system
            assert haversine_m(found.lon, found.lat, x, y)[0] < 0.05
            raw_elsewhere += index.locate([sx], [sy], "wgs84").grid()[0] != row.code
    assert checked >= 30
    assert raw_elsewhere >= checked  # located raw, most of these points (~500 m off) land elsewhere


def test_a_pilot_of_one_street_imports_level_by_level_with_no_flag_that_silences_real_errors(
    scratch_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A district, one of its streets, one community of it, six grids: each partial layer says so."""
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    district = area(D, "district", box(X0, Y0, X0 + 0.06, Y0 + 0.04))
    street = area(S, "street", box(X0, Y0, X0 + 0.03, Y0 + 0.04))  # half the district
    community = area(C, "community", box(X0, Y0, X0 + 0.03, Y0 + 0.02))  # half the street
    grids = [
        area(
            f"{C}{i + 1:03d}",
            "grid",
            box(X0 + 0.01 * (i % 3), Y0 + 0.01 * (i // 3), X0 + 0.01 * (i % 3 + 1), Y0 + 0.01 * (i // 3 + 1)),
            300,
        )
        for i in range(6)
    ]
    runner = CliRunner()
    steps = [
        ("district", [district], "complete"),
        ("street", [street], "partial"),
        ("community", [community], "partial"),
        ("grid", grids, "complete"),
    ]
    for level, rows, coverage in steps:
        frame(*rows).to_file(tmp_path / f"{level}.geojson")
        result = runner.invoke(
            app,
            ["boundaries", "import", str(tmp_path / f"{level}.geojson"), "--level", level, "--coverage", coverage]
            + ["--json"],
        )
        assert result.exit_code == 0, result.output
        findings = json.loads(result.output[: result.output.rindex("]") + 1])
        if level == "street":  # its own gap in the district: information, as declared
            assert [(f["check"], f["severity"], f["codes"]) for f in findings] == [("gap", "info", [D])]
    # The grids cover their community whole; the street's and community's statements are kept with the set,
    # so the gaps those layers leave stay information at every later import.
    assert sorted((f["check"], f["severity"], f["codes"]) for f in findings) == [
        ("gap", "info", [D]),
        ("gap", "info", [S]),
    ]

    # Without the statement, the street layer's gap in its district is an error the import introduces.
    result = runner.invoke(app, ["boundaries", "import", str(tmp_path / "street.geojson"), "--level", "street"])
    assert result.exit_code == 1 and "introduces" in result.output, result.output

    # A real error is refused whatever the coverage: an overlap among the pilot's grids.
    overlapping = [dict(g) for g in grids]
    overlapping[0]["geometry"] = box(X0, Y0, X0 + 0.012, Y0 + 0.01)
    with pytest.raises(ImportRejected) as rejected:
        import_layer(scratch_engine, frame(*overlapping), Level.GRID, source="bad", coverage="partial")
    assert {f.check for f in rejected.value.findings if f.blocking} == {"overlap"}


def test_an_error_let_in_once_does_not_refuse_later_clean_imports(scratch_engine: Engine) -> None:
    rows = clean_set()
    for level in (Level.DISTRICT, Level.STREET, Level.COMMUNITY):
        import_layer(scratch_engine, frame(*[r for r in rows if r["level"] == level.value]), level, source="test")
    short = [area(C + "001", "grid", box(X0, Y0, X0 + 0.01, Y0 + 0.02), 300)]  # half the community
    with pytest.raises(ImportRejected):
        import_layer(scratch_engine, frame(*short), Level.GRID, source="short")
    import_layer(scratch_engine, frame(*short), Level.GRID, source="let in", allow_errors=True)
    # Later, a clean layer of another level (the community again, unchanged) is not refused for the grid gap.
    result = import_layer(scratch_engine, frame(rows[2]), Level.COMMUNITY, source="community again")
    (gap,) = [f for f in result.findings if f.check == "gap"]
    assert gap.severity == "error" and gap.existing and not gap.blocking
