"""Overlay grids (party, special) checked against the management grids they span (pure)."""

import json

import geopandas as gpd
import shapely
from shapely.geometry import box, mapping

from geo.overlays import OVERLAY_COLUMNS, validate_overlays
from tests.layers import X0, Y0, C, clean_set
from web.city_map import MapData, render

GRIDS = gpd.GeoDataFrame([r for r in clean_set() if r["level"] == "grid"], geometry="geometry", crs=4326)
G1, G2 = C + "001", C + "002"  # the west and east halves of the community


def overlay(
    code: str, shape: object, spans: tuple[str, ...], layer: str = "party", **extra: object
) -> dict[str, object]:
    row = {"code": code, "layer": layer, "kind": None, "name": code, "name_en": None, "owner": None}
    return row | {"households": None, "spans": spans, "geometry": shape} | extra


PARK_SHAPE = box(X0 + 0.002, Y0 + 0.002, X0 + 0.006, Y0 + 0.006)  # inside the west grid


def park(code: str = "ZS" + C + "901", spans: tuple[str, ...] = (G1,), **extra: object) -> dict[str, object]:
    return overlay(code, PARK_SHAPE, spans, "special", **({"kind": "park", "owner": "滨江公园管理处"} | extra))


def checks(*rows: dict[str, object]) -> list[tuple[str, str, tuple[str, ...]]]:
    frame = gpd.GeoDataFrame(list(rows), columns=OVERLAY_COLUMNS, geometry="geometry", crs=4326)
    return [(f.severity, f.check, f.codes) for f in validate_overlays(frame, GRIDS)]


def test_a_party_grid_over_both_grids_and_a_park_with_an_owner_pass() -> None:
    party = overlay("DJ" + C + "801", box(X0, Y0, X0 + 0.02, Y0 + 0.02), (G1, G2))
    assert checks(party, park()) == []


def test_an_overlay_in_no_management_grid_is_refused_by_its_code() -> None:
    far = overlay("DJ" + C + "801", box(X0 + 1, Y0 + 1, X0 + 1.01, Y0 + 1.01), (G1,))
    assert checks(far) == [("error", "spans_none", ("DJ" + C + "801",))]


def test_an_overlay_partly_outside_the_management_grids_is_refused_with_the_area() -> None:
    code = "DJ" + C + "801"
    spill = overlay(code, box(X0 - 0.005, Y0, X0 + 0.005, Y0 + 0.01), (G1,))  # half of it west of the district
    assert checks(spill) == [("error", "outside_grids", (code,))]


def test_the_grids_an_overlay_names_must_be_those_it_lies_in() -> None:
    code = "DJ" + C + "801"
    across = box(X0 + 0.005, Y0, X0 + 0.015, Y0 + 0.01)  # over both halves
    assert checks(overlay(code, across, (G1,))) == [("error", "undeclared_span", (code, G2))]
    frame = gpd.GeoDataFrame([overlay(code, across, (G1,))], columns=OVERLAY_COLUMNS, geometry="geometry", crs=4326)
    (finding,) = validate_overlays(frame, GRIDS)
    assert finding.where is not None  # a point of the part in the grid it does not name
    assert box(X0 + 0.01, Y0, X0 + 0.015, Y0 + 0.01).contains(shapely.from_wkt(finding.where))
    west = box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    assert checks(overlay(code, west, (G1, G2))) == [("error", "span_not_touched", (code, G2))]
    assert checks(overlay(code, west, (G1, C + "777"))) == [("error", "unknown_span", (code, C + "777"))]


def test_an_overlay_code_carries_its_layers_prefix_and_its_community() -> None:
    assert checks(park(code="DJ" + C + "901")) == [("error", "bad_code", ("DJ" + C + "901",))]  # a party prefix
    other = "ZS999001001002901"  # names a community it does not lie in
    assert checks(park(code=other)) == [("error", "bad_code", (other,))]


def test_a_special_grid_has_a_kind_no_households_and_should_have_an_owner() -> None:
    code = "ZS" + C + "901"
    assert checks(park(kind="zoo")) == [("error", "bad_kind", (code,))]
    assert checks(park(households=120)) == [("error", "special_households", (code,))]
    assert checks(park(households=0)) == []
    assert checks(park(owner=None)) == [("warning", "no_owner", (code,))]


def test_grids_of_one_overlay_layer_must_not_overlap() -> None:
    second = park(code="ZS" + C + "902")
    assert checks(park(), second) == [("error", "overlap", ("ZS" + C + "901", "ZS" + C + "902"))]
    party = overlay("DJ" + C + "801", box(X0, Y0, X0 + 0.01, Y0 + 0.02), (G1,))
    assert checks(park(), party) == []  # a park inside a party grid is two layers, not an overlap


def test_the_map_draws_each_overlay_layer_under_its_own_name() -> None:
    def collection(code: str, shape: object) -> dict[str, object]:
        feature = {"type": "Feature", "id": code, "properties": {"code": code, "name": code}}
        return {"type": "FeatureCollection", "features": [feature | {"geometry": mapping(shape)}]}

    data = MapData(
        area_name="test",
        bounds=(X0, Y0, X0 + 0.02, Y0 + 0.02),
        tiles="/v1/map/tiles/{z}/{x}/{y}.mvt",
        values={G1: 1.0},
        values_url="/v1/map/values",
        missing=0.0,
        context=[
            ("party_grids", collection("DJ" + C + "801", GRIDS.geometry.iloc[0])),
            ("special_grids", collection("ZS" + C + "901", PARK_SHAPE)),
        ],
        heat=[],
        escalations=[],
    )
    page = render(data)
    layers = [json.dumps(name) for name in ("党建网格", "专属网格")]  # the layer control's names, JSON-escaped
    assert all(name in page for name in layers) and "ZS" + C + "901" in page
    assert '"dashArray": "6 4"' in page  # party grids dashed over the management grids
