"""Validation findings on small hand-made boundary sets (pure, no database)."""

import pytest
from pyproj import Geod
from shapely.geometry import Polygon, box

from geo.levels import Level
from geo.validate import area_m2, fix_geometries, judged, validate
from tests.layers import X0, Y0, C, D, S, area, clean_set, frame


def checks(rows: list[dict[str, object]]) -> dict[str, list]:  # type: ignore[type-arg]
    found: dict[str, list] = {}  # type: ignore[type-arg]
    for f in validate(frame(*rows)):
        found.setdefault(f.check, []).append(f)
    return found


def test_a_clean_set_has_no_findings() -> None:
    assert validate(frame(*clean_set())) == []


def test_overlap_names_the_pair_and_its_area() -> None:
    rows = clean_set()
    rows[4] = area(C + "002", "grid", box(X0 + 0.009, Y0, X0 + 0.02, Y0 + 0.02), 300)
    (overlap,) = checks(rows)["overlap"]
    assert overlap.codes == (C + "001", C + "002")
    expected = area_m2(box(X0 + 0.009, Y0, X0 + 0.01, Y0 + 0.02))
    assert overlap.area_m2 == pytest.approx(expected, rel=1e-6)
    geodesic, _ = Geod(ellps="WGS84").geometry_area_perimeter(box(X0 + 0.009, Y0, X0 + 0.01, Y0 + 0.02))
    assert overlap.area_m2 == pytest.approx(abs(geodesic), rel=5e-3)  # about 94 m × 2.2 km
    assert overlap.where and overlap.where.startswith("POINT")


def test_gap_reports_where_and_how_much() -> None:
    rows = clean_set()
    rows[4] = area(C + "002", "grid", box(X0 + 0.011, Y0, X0 + 0.02, Y0 + 0.02), 300)
    (gap,) = checks(rows)["gap"]
    assert gap.codes == (C,)
    assert gap.area_m2 == pytest.approx(area_m2(box(X0 + 0.01, Y0, X0 + 0.011, Y0 + 0.02)), rel=1e-6)


def test_a_hole_in_a_grid_is_a_gap_of_its_community() -> None:
    rows = clean_set()
    hole = box(X0 + 0.002, Y0 + 0.002, X0 + 0.004, Y0 + 0.004)
    rows[3] = area(C + "001", "grid", Polygon(box(X0, Y0, X0 + 0.01, Y0 + 0.02).exterior, [hole.exterior]), 300)
    (gap,) = checks(rows)["gap"]
    assert gap.area_m2 == pytest.approx(area_m2(hole), rel=1e-6)


def test_bow_tie_is_an_invalid_geometry_with_its_reason_and_can_be_fixed() -> None:
    rows = clean_set()
    bow_tie = Polygon([(X0, Y0), (X0 + 0.01, Y0 + 0.02), (X0 + 0.01, Y0), (X0, Y0 + 0.02), (X0, Y0)])
    rows[3] = area(C + "001", "grid", bow_tie, 300)
    (invalid,) = checks(rows)["invalid_geometry"]
    assert "Self-intersection" in invalid.message
    fixed, fixes = fix_geometries(frame(*rows))
    assert [f.code for f in fixes] == [C + "001"]
    assert fixes[0].area_after_m2 > 0
    assert "invalid_geometry" not in {f.check for f in validate(fixed)}


def test_child_outside_its_parent() -> None:
    rows = clean_set()
    rows[4] = area(C + "002", "grid", box(X0 + 0.01, Y0, X0 + 0.021, Y0 + 0.02), 300)
    (outside,) = checks(rows)["outside_parent"]
    assert outside.codes == (C + "002", C)
    assert outside.area_m2 == pytest.approx(area_m2(box(X0 + 0.02, Y0, X0 + 0.021, Y0 + 0.02)), rel=1e-6)


def test_duplicate_code_missing_parent_and_bad_code() -> None:
    rows = clean_set() + [area(C + "002", "grid", box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.02), 300)]
    rows.append(area("999001009001001", "grid", box(X0, Y0, X0 + 0.001, Y0 + 0.001), 300))
    rows.append(area("12345", "street", box(X0, Y0, X0 + 0.001, Y0 + 0.001)))
    found = checks(rows)
    assert found["duplicate_code"][0].codes == (C + "002",)
    assert "999001009001001" in {f.codes[0] for f in found["missing_parent"]}
    assert found["bad_code"][0].codes == ("12345",)


def test_households_outside_the_range_is_a_warning_and_missing_is_an_error() -> None:
    rows = clean_set()
    rows[3] = area(C + "001", "grid", box(X0, Y0, X0 + 0.01, Y0 + 0.02), 900)
    rows[4] = area(C + "002", "grid", box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.02), None)
    found = checks(rows)
    assert found["households_range"][0].severity == "warning"
    assert found["missing_households"][0].severity == "error"


def test_a_community_without_grids_is_a_gap_unless_the_grid_layer_is_declared_partial() -> None:
    rows = clean_set()
    second = area(S + "002", "community", box(X0 + 0.02, Y0, X0 + 0.03, Y0 + 0.02))  # no grids in it
    rows[0] = area(D, "district", box(X0, Y0, X0 + 0.03, Y0 + 0.02))
    rows[1] = area(S, "street", box(X0, Y0, X0 + 0.03, Y0 + 0.02))
    findings = validate(frame(*rows, second))
    (gap,) = [f for f in findings if f.check == "gap"]
    assert (gap.severity, gap.codes) == ("error", (S + "002",))
    assert gap.area_m2 == pytest.approx(area_m2(box(X0 + 0.02, Y0, X0 + 0.03, Y0 + 0.02)), rel=1e-6)
    (info,) = [f for f in validate(frame(*rows, second), partial=frozenset({Level.GRID})) if f.check == "gap"]
    assert info.severity == "info" and not info.blocking


def test_findings_the_active_set_already_had_are_marked_existing_and_do_not_block() -> None:
    rows = clean_set()
    rows[4] = area(C + "002", "grid", box(X0 + 0.011, Y0, X0 + 0.02, Y0 + 0.02), 300)  # a gap
    before = validate(frame(*rows))
    rows[3] = area(C + "001", "grid", box(X0, Y0, X0 + 0.012, Y0 + 0.02), 300)  # closes it with an overlap
    after = judged(before, validate(frame(*rows)))
    assert [(f.check, f.blocking) for f in after if f.severity == "error"] == [("overlap", True)]
    same = judged(before, before)
    assert [(f.check, f.existing, f.blocking) for f in same] == [("gap", True, False)]
