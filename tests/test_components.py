"""The component register (部件普查): a survey file checked row by row (one bad row of each kind), imported
from GeoJSON and XLSX, updated by identifier on a re-import, and found near a reporter, nearest first."""

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.categories import component_classes
from registers.cadence import load_visit_rules
from registers.components import load_demo_components, near
from registers.importer import ImportReport, import_file
from registers.protect import Protector
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event

G = 310  # a demo grid no other test uses


def _import(engine: Engine, settings: Settings, path: Path, **options: bool) -> ImportReport:
    protector = Protector(settings.registers.pii_key)
    return import_file(
        engine, path, "components", protector, load_visit_rules(), classes=component_classes(), **options
    )


def _feature(code: str, lon: float, lat: float, **properties: str) -> dict[str, object]:
    values = {"code": code, "owner": "区路灯管理所", "maintainer": "市政养护公司", "status": "完好"} | properties
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": values}


@pytest.fixture
def grid(demo_city: Engine) -> Iterator[tuple[str, float, float]]:
    found = grid_point(demo_city, G)
    yield found
    with demo_city.begin() as conn:
        conn.execute(text("DELETE FROM component WHERE grid_code = :g OR code LIKE '999999%'"), {"g": found[0]})


def test_a_survey_file_is_checked_row_by_row_and_imported_by_identifier(
    demo_city: Engine, settings: Settings, tmp_path: Path, grid: tuple[str, float, float]
) -> None:
    code, lon, lat = grid
    region = code[:6]
    lamp = f"{region}0116000001"
    features = [
        _feature(lamp, lon, lat, surveyed="2026-03-01"),  # line 2: good, a street light
        _feature(f"{region}0199000001", lon, lat),  # 3: 小类 99 of 公用设施 is no class
        _feature(lamp, lon + 0.0001, lat),  # 4: the identifier again
        _feature(f"{region}0116000002", 0.0, 0.0),  # 5: outside every grid
        _feature(f"999999{lamp[6:10]}000003", lon, lat),  # 6: a county that is not where it stands
        _feature(f"{region}0116000004", lon, lat, **{"class": "0101"}),  # 7: says 上水井盖, numbered as 路灯
        _feature(f"{region}0116000005", lon, lat, status="坏了"),  # 8: no such status
        _feature("12345", lon, lat),  # 9: not 16 digits
    ]
    path = tmp_path / "components.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    report = _import(demo_city, settings, path, dry_run=True)
    found = {(p.line, p.field, p.key) for p in report.problems}
    assert found == {
        (3, "code", "field.component_class"),
        (4, "code", "field.component_twice"),
        (5, "lon", "field.component_outside"),
        (6, "code", "field.component_region"),
        (7, "class", "field.component_class_differs"),
        (8, "status", "field.component_status"),
        (9, "code", "field.component_code"),
    }
    assert (report.rows, report.good, report.imported) == (8, 1, None)
    with demo_city.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM component WHERE grid_code = :g"), {"g": code}).scalar() == 0
    report = _import(demo_city, settings, path, skip_bad_rows=True)
    assert report.imported is not None and (report.imported.added, report.imported.updated) == (1, 0)
    # The same lamp again from a workbook, now broken and maintained by another firm: updated, not added.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["标识码", "经度", "纬度", "权属单位", "养护单位", "状态", "普查日期"])
    sheet.append([lamp, lon, lat, "区路灯管理所", "城南养护站", "破损", "2026-09-01"])
    book.save(tmp_path / "lamps.xlsx")
    again = _import(demo_city, settings, tmp_path / "lamps.xlsx")
    assert again.problems == [] and again.imported is not None
    assert (again.imported.added, again.imported.updated) == (0, 1)
    with demo_city.connect() as conn:
        row = conn.execute(
            text("SELECT category, name, grid_code, maintainer, status FROM component WHERE code = :c"), {"c": lamp}
        ).one()
    assert tuple(row) == ("BJ0116", "路灯", code, "城南养护站", "破损")


def test_components_near_a_reporter_come_nearest_first_within_the_tolerance(
    demo_city: Engine, settings: Settings, tmp_path: Path, grid: tuple[str, float, float]
) -> None:
    code, lon, lat = grid
    metre = 1 / 111_320  # a metre of latitude, in degrees
    features = [  # lamps 3 m, 9 m and 40 m north; a manhole cover 1 m north
        _feature(f"{code[:6]}0116000011", lon, lat + 3 * metre),
        _feature(f"{code[:6]}0116000012", lon, lat + 9 * metre),
        _feature(f"{code[:6]}0116000013", lon, lat + 40 * metre),
        _feature(f"{code[:6]}0101000011", lon, lat + 1 * metre, owner="自来水公司"),
    ]
    path = tmp_path / "near.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    assert _import(demo_city, settings, path).problems == []
    with demo_city.connect() as conn:
        lamps = near(conn, lon, lat, 20.0, "BJ0116")
        every = near(conn, lon, lat, 20.0)
    assert [(r["code"][-2:], round(r["distance_m"])) for r in lamps] == [("11", 3), ("12", 9)]
    assert [r["code"][-6:] for r in every] == ["000011", "000011", "000012"]
    assert every[0]["category"] == "BJ0101" and every[0]["owner"] == "自来水公司"


def test_the_demo_city_gets_synthetic_components_marked_so(demo_city: Engine) -> None:
    """Lamps every 50 m along each grid's edge, two covers and two bins inside each grid, all synthetic."""
    with demo_city.connect() as conn:
        try:
            conn.execute(text("DELETE FROM component WHERE code LIKE '321111%'"))
            added = load_demo_components(conn, "321111")
            rows = conn.execute(
                text(
                    "SELECT category, count(*) AS n, bool_and(synthetic) AS synthetic,"
                    " bool_and(name LIKE '%（模拟）') AS named,"
                    " bool_and(code LIKE '321111' || substr(category, 3) || '%' AND length(code) = 16) AS coded,"
                    " count(DISTINCT owner) AS owners FROM component"
                    " WHERE code LIKE '321111%' GROUP BY category ORDER BY category"
                )
            ).all()
            grids = conn.execute(text("SELECT count(*) FROM active_area WHERE level = 'grid' AND code LIKE '321111%'"))
            n_grids = grids.scalar_one()
            assert load_demo_components(conn, "321111") == 0  # once
        finally:
            conn.rollback()
    counts = {r.category: r.n for r in rows}
    assert added == sum(counts.values())
    assert counts["BJ0101"] == counts["BJ0102"] == n_grids and counts["BJ0304"] == 2 * n_grids
    assert counts["BJ0116"] >= 4 * n_grids  # a grid's edge is hundreds of metres: a lamp each 50
    assert all(r.synthetic and r.named and r.coded and r.owners == 1 for r in rows)


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web-mercator tile of a point at zoom ``z``."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_the_map_shows_components_by_class_and_marks_one_with_an_open_case(
    demo_city: Engine, settings: Settings, sign_in: SignIn, tmp_path: Path, grid: tuple[str, float, float]
) -> None:
    code, lon, lat = grid
    lamp, cover = f"{code[:6]}0116000021", f"{code[:6]}0101000021"
    features = [_feature(lamp, lon, lat), _feature(cover, lon + 0.0001, lat, owner="自来水公司")]
    path = tmp_path / "tile.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    assert _import(demo_city, settings, path).problems == []
    case_id = write_event(
        demo_city, event_body(lon, lat, category="BJ0116", condition="1", component=lamp), datetime.now(UTC)
    )
    headers = sign_in("comp-district", Role.DISTRICT, code[:6])
    x, y = _tile(lon, lat, 17)
    try:
        with TestClient(create_app(settings)) as client:
            tile = client.get(f"/v1/map/components/17/{x}/{y}.mvt", params={"area": code}, headers=headers)
            lamps = client.get(
                f"/v1/map/components/17/{x}/{y}.mvt", params={"area": code, "category": "BJ0116"}, headers=headers
            )
            far = client.get(f"/v1/map/components/12/{x >> 5}/{y >> 5}.mvt", params={"area": code}, headers=headers)
            page = client.get("/map", params={"area": code[:9]}, headers=headers)
    finally:
        with demo_city.begin() as conn:
            conn.execute(text('DELETE FROM "case" WHERE id = :id'), {"id": case_id})
            conn.execute(text("DELETE FROM event WHERE id = :id"), {"id": case_id})
    assert tile.status_code == 200 and tile.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    shown = {
        f["properties"]["code"]: f["properties"]
        for f in mapbox_vector_tile.decode(tile.content)["components"]["features"]
    }
    assert {k: (v["category"], v["open"]) for k, v in shown.items() if k in (lamp, cover)} == {
        lamp: ("BJ0116", True),
        cover: ("BJ0101", False),
    }
    only = {f["properties"]["code"] for f in mapbox_vector_tile.decode(lamps.content)["components"]["features"]}
    assert lamp in only and cover not in only
    assert far.status_code == 200 and far.content == b""  # below zoom 15: no dots
    assert page.status_code == 200 and "gridgovComponents(" in page.text and "/v1/map/components/" in page.text


@pytest.mark.parametrize("suffix", [".gpkg", ".shp"])
def test_a_survey_in_a_geopackage_or_a_shapefile_is_read_the_same(
    demo_city: Engine, settings: Settings, tmp_path: Path, grid: tuple[str, float, float], suffix: str
) -> None:
    """In CGCS2000 / 3-degree Gauss-Krüger (EPSG:4549, as surveys are delivered): stored in WGS84 at the place."""
    code, lon, lat = grid
    lamp = f"{code[:6]}0116000031"
    frame = gpd.GeoDataFrame(
        {"code": [lamp], "owner": ["区路灯管理所"], "status": ["完好"], "surveyed": ["2026-05-01"]},
        geometry=[shapely.Point(lon, lat)],
        crs=4326,
    ).to_crs(4549)
    path = tmp_path / f"lamps{suffix}"
    frame.to_file(path, engine="pyogrio")
    report = _import(demo_city, settings, path)
    assert report.problems == [] and report.imported is not None and report.imported.added == 1
    with demo_city.connect() as conn:
        x, y, day = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom), surveyed_on FROM component WHERE code = :c"), {"c": lamp}
        ).one()
    assert abs(x - lon) < 1e-6 and abs(y - lat) < 1e-6 and day.isoformat() == "2026-05-01"
