"""Grid layers on the real database: overlays kept in step, special grids' cases, reports from outside."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.access import Principal, Role
from api.app import create_app
from api.auth import issue_token
from api.errors import Refusal
from api.placement import in_own_grid, in_place, in_served_area
from api.settings import Settings
from cases.indicators import indicators
from cases.rules import load_rules
from cli.main import app
from geo.boundaries import ImportRejected, import_layer
from geo.crs import CRS
from geo.levels import Level
from geo.locator import Locator
from geo.validate import M_PER_DEG_LAT
from streams.schema import Event, Location
from streams.writer import write_events
from tests.layers import X0, Y0, C, D, S, area, clean_set, frame
from tests.pipeline_fixtures import event_body
from tests.test_record_db import located

G1, G2 = C + "001", C + "002"
PARK, PARTY = "ZS" + C + "901", "DJ" + C + "801"
PARK_BOX = box(X0 + 0.002, Y0 + 0.002, X0 + 0.006, Y0 + 0.006)  # inside the west grid

OUTSIDE = "outside the area this platform serves"  # in the English refusal


def _import(engine: Engine, rows: list[dict[str, object]], **options: object) -> None:
    for level in Level:
        layer = [r for r in rows if r["level"] == level.value]
        if layer:
            import_layer(engine, frame(*layer), level, source="test", **options)  # type: ignore[arg-type]


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    gpd.GeoDataFrame(rows, geometry="geometry", crs=4326).to_file(path)
    return path


def _cli(engine: Engine, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["boundaries", *args])
    return result.exit_code, result.output


def _overlays(engine: Engine) -> list[tuple[str, str, list[str]]]:
    with engine.connect() as conn:
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute(
                text(
                    "SELECT o.code, o.layer, o.spans FROM overlay_area o JOIN boundary_generation g"
                    " ON g.id = o.generation_id AND g.active ORDER BY o.code"
                )
            )
        ]


def _with_overlays(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _import(engine, clean_set())
    party = {
        "code": PARTY,
        "name": "第一党建网格",
        "spans": f"{G1},{G2}",
        "geometry": box(X0, Y0, X0 + 0.02, Y0 + 0.02),
    }
    park = {
        "code": PARK,
        "name": "滨江公园",
        "kind": "park",
        "owner": "滨江公园管理处",
        "spans": G1,
        "geometry": PARK_BOX,
    }
    for layer, row in (("party", party), ("special", park)):
        code, output = _cli(
            engine, monkeypatch, "import", str(_write(tmp_path / f"{layer}.geojson", [row])), "--layer", layer
        )
        assert code == 0, output


def test_a_party_overlay_and_a_park_import_validate_and_are_kept_in_step(
    scratch_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_overlays(scratch_engine, tmp_path, monkeypatch)
    assert _overlays(scratch_engine) == [(PARTY, "party", [G1, G2]), (PARK, "special", [G1])]
    assert _cli(scratch_engine, monkeypatch, "validate")[0] == 0

    # The management grids renumbered: the overlays' spans would name grids that no longer exist.
    renumbered = [dict(r, code=str(r["code"])[:-3] + "00" + str(int(str(r["code"])[-1]) + 2)) for r in clean_set()[3:]]
    with pytest.raises(ImportRejected) as rejected:
        import_layer(scratch_engine, frame(*renumbered), Level.GRID, source="renumbered")
    blocking = {(f.check, f.codes) for f in rejected.value.findings if f.blocking}
    assert ("unknown_span", (PARK, G1)) in blocking and ("unknown_span", (PARTY, G2)) in blocking
    assert ("spans_none", (PARK,)) not in blocking  # the park still lies in a grid (now 003): undeclared
    assert ("undeclared_span", (PARK, C + "003")) in blocking
    assert _overlays(scratch_engine)[1] == (PARK, "special", [G1])  # nothing changed

    # --level is for the management layer only: a mistake is one line.
    code, output = _cli(
        scratch_engine, monkeypatch, "import", str(tmp_path / "party.geojson"), "--level", "grid", "--layer", "party"
    )
    assert code == 2 and len(output.strip().splitlines()) == 1, output


def test_overlays_in_no_grid_or_partly_outside_are_refused_naming_them(
    scratch_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(scratch_engine, clean_set())
    far = {"code": "ZS" + C + "902", "name": "远处市场", "kind": "market", "owner": "市场", "spans": G1}
    spill = {"code": "ZS" + C + "903", "name": "跨界园区", "kind": "campus", "owner": "园区", "spans": G1}
    rows = [
        far | {"geometry": box(X0 + 1, Y0 + 1, X0 + 1.01, Y0 + 1.01)},
        spill | {"geometry": box(X0 - 0.004, Y0 + 0.01, X0 + 0.004, Y0 + 0.015)},  # half west of the district
    ]
    path = _write(tmp_path / "special.geojson", rows)
    code, output = _cli(scratch_engine, monkeypatch, "import", str(path), "--layer", "special", "--json")
    assert code == 1, output
    findings = json.loads(output[: output.rindex("]") + 1])
    assert sorted((f["check"], f["codes"]) for f in findings if f["severity"] == "error") == [
        ("outside_grids", ["ZS" + C + "903"]),
        ("spans_none", ["ZS" + C + "902"]),
    ]
    assert "2 validation error(s) this import introduces" in output
    assert _overlays(scratch_engine) == []


def test_gap_and_overlap_layers_are_refused_also_beside_an_error_the_set_already_has(scratch_engine: Engine) -> None:
    rows = clean_set()
    _import(scratch_engine, rows[:3])
    half = [area(G1, "grid", box(X0, Y0, X0 + 0.01, Y0 + 0.02), 300)]  # leaves half the community uncovered
    import_layer(scratch_engine, frame(*half), Level.GRID, source="let in", allow_errors=True)

    overlapping = [
        area(S, "street", box(X0, Y0, X0 + 0.02, Y0 + 0.02)),
        area(S[:-1] + "2", "street", box(X0, Y0, X0 + 0.01, Y0 + 0.01)),
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_layer(scratch_engine, frame(*overlapping), Level.STREET, source="overlap")
    assert {f.check for f in rejected.value.findings if f.blocking} >= {"overlap"}
    assert any(f.check == "gap" and f.existing for f in rejected.value.findings)  # the grid gap: reported, not blocking

    short = [area(C, "community", box(X0, Y0, X0 + 0.02, Y0 + 0.01))]  # half the street
    with pytest.raises(ImportRejected) as rejected:
        import_layer(scratch_engine, frame(*short), Level.COMMUNITY, source="gap")
    assert ("gap", (S,)) in {(f.check, f.codes) for f in rejected.value.findings if f.blocking}


def _record(engine: Engine, lon: float, lat: float) -> str:
    body = event_body(lon, lat, category="0102")
    write_events(engine, located(engine, [body]))
    return str(body["id"])


def _seen_by(engine: Engine, principal: Principal, case_id: str) -> bool:
    sql, params = principal.case_filter()
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(f'SELECT count(*) FROM "case" c WHERE c.id = :id AND {sql}'), params | {"id": case_id}
            ).scalar_one()
        )


def test_a_case_in_the_park_is_seen_by_its_owner_and_by_the_grids_supervisor(
    scratch_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_overlays(scratch_engine, tmp_path, monkeypatch)
    in_park = _record(scratch_engine, X0 + 0.004, Y0 + 0.004)
    beside = _record(scratch_engine, X0 + 0.015, Y0 + 0.004)
    with scratch_engine.connect() as conn:
        placed = dict(conn.execute(text('SELECT id::text, (grid_code, special_code)::text FROM "case"')).all())
    assert placed == {in_park: f"({G1},{PARK})", beside: f"({G2},)"}
    owner = Principal("park-office", Role.OWNER, PARK)
    supervisor = Principal("sq", Role.COMMUNITY, C)
    assert _seen_by(scratch_engine, owner, in_park) and not _seen_by(scratch_engine, owner, beside)
    assert _seen_by(scratch_engine, supervisor, in_park) and _seen_by(scratch_engine, supervisor, beside)
    assert not _seen_by(scratch_engine, Principal("other-park", Role.OWNER, "ZS" + C + "902"), in_park)


def pilot() -> list[dict[str, object]]:
    """A district; one street of half of it; one community of half the street; two grids covering it."""
    return [
        area(D, "district", box(X0, Y0, X0 + 0.04, Y0 + 0.02)),
        area(S, "street", box(X0, Y0, X0 + 0.02, Y0 + 0.02)),
        area(C, "community", box(X0, Y0, X0 + 0.02, Y0 + 0.01)),
        area(G1, "grid", box(X0, Y0, X0 + 0.01, Y0 + 0.01), 300),
        area(G2, "grid", box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.01), 300),
    ]


def import_pilot(engine: Engine, grids: bool = True) -> None:
    """The pilot imported as a city rolls one street out: district, the street and its community partial."""
    rows = pilot()
    import_layer(engine, frame(rows[0]), Level.DISTRICT, source="pilot")
    import_layer(engine, frame(rows[1]), Level.STREET, source="pilot", coverage="partial")
    import_layer(engine, frame(rows[2]), Level.COMMUNITY, source="pilot", coverage="partial")
    if grids:
        import_layer(engine, frame(*rows[3:]), Level.GRID, source="pilot")


def test_reports_in_a_gap_go_to_the_area_that_holds_them_and_are_counted(scratch_engine: Engine) -> None:
    import_pilot(scratch_engine)
    in_district = _record(scratch_engine, X0 + 0.03, Y0 + 0.01)  # east half: no street
    in_street = _record(scratch_engine, X0 + 0.005, Y0 + 0.015)  # the street's north half: no community
    with scratch_engine.connect() as conn:
        cases = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                text('SELECT id::text, level, grid_code, community_code, street_code, district_code FROM "case"')
            )
        }
        today = datetime.now(UTC).astimezone(load_rules().calendar.tz).date()
        district = indicators(conn, D, today, today, load_rules(), datetime.now(UTC))
        street = indicators(conn, S, today, today, load_rules(), datetime.now(UTC))
    assert cases == {in_district: ("street", None, None, None, D), in_street: ("street", None, None, S, D)}
    assert _seen_by(scratch_engine, Principal("qu", Role.DISTRICT, D), in_district)
    assert not _seen_by(scratch_engine, Principal("jd", Role.STREET, S), in_district)
    assert _seen_by(scratch_engine, Principal("jd", Role.STREET, S), in_street)
    assert (district["received"], district["received_outside_grids"]) == (2, 2)
    assert (street["received"], street["received_outside_grids"]) == (1, 1)


def test_outside_reports_are_refused_before_anything_is_accepted(scratch_engine: Engine) -> None:
    import_pilot(scratch_engine)
    index = Locator(scratch_engine).index()
    worker = Principal("gw", Role.GRIDWORKER, G1)

    def event(lon: float, lat: float) -> Event:
        return Event.model_validate_json(json.dumps(event_body(lon, lat, reporter="gw")))

    in_own_grid(index, [event(X0 + 0.005, Y0 + 0.005), event(X0 + 0.0102, Y0 + 0.005)], worker, batch=True)  # 19 m out
    # 0.01° of longitude east of the grid's east edge, at the latitude of the point: the nearest grid is G2 (inside).
    lat = Y0 + 0.005
    expected_m = 0.01 * M_PER_DEG_LAT * np.cos(np.radians(lat))  # ≈ 941 m, along a parallel
    with pytest.raises(Refusal) as refused:
        in_own_grid(index, [event(X0 + 0.005, lat), event(X0 + 0.02, lat)], worker, batch=True)
    assert refused.value.kind == "invalid_input"
    (problem,) = refused.value.worded("en")[1]
    assert problem["field"] == "events.1.location" and problem["nearest_grid"] == G2 and problem["nearest_m"] == 0
    assert f"lies {expected_m:,.0f} m outside your grid {G1}" in problem["problem"]
    far_lon = X0 + 0.05  # east of the district: nearest grid G2, 0.03° away
    with pytest.raises(Refusal) as refused:
        in_own_grid(index, [event(far_lon, lat)], worker, batch=False)
    (problem,) = refused.value.worded("en")[1]
    assert problem["nearest_grid"] == G2
    assert problem["nearest_m"] == pytest.approx(0.03 * M_PER_DEG_LAT * np.cos(np.radians(lat)), rel=2e-3)
    in_own_grid(index, [event(far_lon, lat)], Principal("sq", Role.COMMUNITY, C), batch=False)  # supervisors roam

    gap = Location(lon=X0 + 0.03, lat=Y0 + 0.01, crs=CRS.WGS84)
    in_served_area(index, [gap], ["location"])  # a gap in the district: taken in
    with pytest.raises(Refusal, match=OUTSIDE) as refused:
        in_served_area(index, [Location(lon=far_lon, lat=lat, crs=CRS.WGS84)], ["location"])
    assert refused.value.status_code == 422
    with pytest.raises(Refusal, match=OUTSIDE) as refused:  # Open311 answers every input error with 400
        in_served_area(index, [Location(lon=far_lon, lat=lat, crs=CRS.WGS84)], ["lat/long"], "bad_request")
    assert refused.value.status_code == 400
    # District staff post anywhere in their district, but not outside every district: 422, one or in a batch.
    staff = Principal("qu", Role.DISTRICT, D)
    in_place(index, [event(X0 + 0.03, Y0 + 0.01)], staff, batch=False)
    with pytest.raises(Refusal, match=OUTSIDE) as refused:
        in_place(index, [event(far_lon, lat)], staff, batch=False)
    assert [p["field"] for p in refused.value.detail] == ["location"]
    with pytest.raises(Refusal, match="1 place") as refused:
        in_place(index, [event(X0 + 0.005, Y0 + 0.005), event(far_lon, lat)], staff, batch=True)
    assert [p["field"] for p in refused.value.detail] == ["events.1.location"]


def test_gap_cases_are_listed_under_the_areas_that_hold_them(
    scratch_engine: Engine, scratch_settings: Settings, kafka_settings: object
) -> None:
    import_pilot(scratch_engine)
    in_district = _record(scratch_engine, X0 + 0.03, Y0 + 0.01)  # east half: no street
    in_street = _record(scratch_engine, X0 + 0.005, Y0 + 0.015)  # the street's north half: no community
    in_grid = _record(scratch_engine, X0 + 0.005, Y0 + 0.005)
    with scratch_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO app_user (username, password_hash, role, scope) VALUES ('qu', 'x', 'district', :d)"),
            {"d": D},
        )
    token = issue_token(scratch_settings.api.secret_key, Principal("qu", Role.DISTRICT, D), timedelta(hours=1))
    with TestClient(create_app(scratch_settings)) as client:
        client.headers.update({"Authorization": f"Bearer {token}"})

        def listed(area: str) -> set[str]:
            return {c["id"] for c in client.get("/v1/cases", params={"area": area, "limit": 100}).json()["cases"]}

        assert listed(D) == {in_district, in_street, in_grid}
        assert listed(S) == {in_street, in_grid}
        assert listed(C) == {in_grid}
        # Held, in words, by the district's intake and by the street (not "street" with no street code).
        held = {c: client.get(f"/v1/cases/{c}").json()["holder"] for c in (in_district, in_street, in_grid)}
        assert held == {in_district: "district", in_street: "street", in_grid: "grid"}


def test_a_partial_grid_layer_with_a_hole_inside_a_covered_community_is_refused(scratch_engine: Engine) -> None:
    import_pilot(scratch_engine, grids=False)
    rows = pilot()
    # The west grid stops 0.002° short of the east grid: a strip of the community is in no grid.
    holed = [area(G1, "grid", box(X0, Y0, X0 + 0.008, Y0 + 0.01), 300), rows[4]]
    with pytest.raises(ImportRejected) as refused:
        import_layer(scratch_engine, frame(*holed), Level.GRID, source="pilot", coverage="partial")
    (hole,) = [f for f in refused.value.findings if f.check == "gap" and f.severity == "error"]
    assert hole.codes == (C,)
    strip_m2 = 0.002 * 0.01 * M_PER_DEG_LAT**2 * np.cos(np.radians(Y0 + 0.005))
    assert hole.area_m2 == pytest.approx(strip_m2, rel=0.01) and hole.where and hole.where.startswith("POINT")
    # The same grids without the hole, partial: the street's other half (no community) stays information.
    import_layer(scratch_engine, frame(*rows[3:]), Level.GRID, source="pilot", coverage="partial")
