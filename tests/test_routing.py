"""分拨: a case goes to its component's owner, else its filing condition's unit, else the unit whose area holds
it; the decision and its reason are in its history; a supervisor may send it elsewhere with a reason."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.settings import Settings
from cases.routing import Area, Component, route
from cases.rules import load_rules
from cases.store import loop_cases, take_in
from db.tables import case as case_table
from registers.components import ComponentRow, import_areas, import_components
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event

G = 311  # a demo grid no other test uses
PARK = Area("人民公园管理处", "人民公园")
LAMP = Component("3211110116000001", "路灯", "润州区路灯管理所")


def test_the_unit_is_the_owner_then_the_condition_then_the_area_then_the_rules_default() -> None:
    rules = load_rules()
    assert route("BJ0116/1", rules, LAMP, PARK).unit == "润州区路灯管理所"
    assert route("BJ0116/1", rules, LAMP, PARK).why == "路灯 3211110116000001 权属：润州区路灯管理所"
    assert route("BJ0116/1", rules, None, PARK).why == "路灯 立案条件1：区路灯管理所"
    assert route("0106", rules, None, PARK).why == "责任区 人民公园：人民公园管理处"
    assert route("8301", rules, None, PARK) == route("8301", rules, None, None)  # the rules file's own unit
    assert route("8301", rules, None, PARK).unit == "消防救援大队" and route("8301", rules, None, PARK).why is None
    assert (route("0106", rules, None, None).unit, route("0106", rules, None, None).why) == ("区城市管理局", None)


@pytest.fixture
def place(demo_city: Engine) -> Iterator[tuple[str, float, float]]:
    code, lon, lat = grid_point(demo_city, G)
    yield code, lon, lat
    with demo_city.begin() as conn:
        conn.execute(text("DELETE FROM unit_area WHERE unit = :u"), {"u": PARK.unit})
        conn.execute(text("DELETE FROM component WHERE grid_code = :g"), {"g": code})
        for table in ("case_transition", '"case"', "event"):
            key = "case_id" if table == "case_transition" else "id"
            conn.execute(
                text(f"DELETE FROM {table} WHERE {key} IN (SELECT id FROM event WHERE reporter LIKE 'route-gw%')")
            )


def _reported(engine: Engine, body: dict[str, object]) -> tuple[uuid.UUID, str, list[tuple[str, str]]]:
    """A report written and taken in as the clock takes it in: its case, its unit, its history."""
    case_id = write_event(engine, body, datetime.now(UTC))
    with engine.begin() as conn:
        take_in(conn, conn.execute(loop_cases().where(case_table.c.id == case_id)).one(), load_rules())
        unit = conn.execute(text('SELECT unit FROM "case" WHERE id = :id'), {"id": case_id}).scalar_one()
        history = conn.execute(
            text("SELECT action, note FROM case_transition WHERE case_id = :id ORDER BY seq"), {"id": case_id}
        ).all()
    return case_id, unit, [tuple(h) for h in history]


def test_a_report_in_a_park_goes_to_the_parks_unit_and_a_supervisor_may_send_it_elsewhere(
    demo_city: Engine, settings: Settings, sign_in: SignIn, place: tuple[str, float, float]
) -> None:
    code, lon, lat = place
    park = shapely.Point(lon, lat).buffer(0.001)  # about 100 m round the point
    with demo_city.begin() as conn:
        import_areas(conn, [(PARK.unit, PARK.name, park.wkt)], buffer_m=30)
    case_id, unit, history = _reported(demo_city, event_body(lon, lat, category="0106", reporter="route-gw"))
    assert unit == "人民公园管理处"
    assert ("routed", "责任区 人民公园：人民公园管理处") in history
    outside = event_body(lon + 0.01, lat + 0.01, category="0106", reporter="route-gw")  # ~1 km away
    assert _reported(demo_city, outside)[1] == "区城市管理局"  # its 大类's unit: the rules' default, no row
    headers = sign_in("route-district", Role.DISTRICT, code[:6])
    with TestClient(create_app(settings)) as client:
        refused = client.post(
            f"/v1/cases/{case_id}/unit", json={"unit": "不存在的单位", "reason": "试"}, headers=headers
        )
        assert refused.status_code == 422 and "人民公园管理处" in refused.text and "不存在的单位" in refused.text
        no_reason = client.post(f"/v1/cases/{case_id}/unit", json={"unit": "区城市管理局"}, headers=headers)
        assert no_reason.status_code == 422
        moved = client.post(
            f"/v1/cases/{case_id}/unit", json={"unit": "区城市管理局", "reason": "广场不属公园"}, headers=headers
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["unit"] == "区城市管理局"
        assert [(h["action"], h["note"]) for h in moved.json()["history"]][-1] == (
            "rerouted",
            "区城市管理局：广场不属公园",
        )


def _lamp(engine: Engine, place: tuple[str, float, float], status: str) -> str:
    """A street light of 润州区路灯管理所 at the place, in the register; its identifier."""
    code, lon, lat = place
    lamp = f"{code[:6]}0116{code[-6:]}"
    row = ComponentRow(0, lamp, "BJ0116", "路灯", shapely.Point(lon, lat), code, "润州区路灯管理所", None, status, None)
    with engine.begin() as conn:
        import_components(conn, [row])
    return lamp


def test_a_lamp_report_goes_to_the_lamps_owner_and_a_second_report_of_it_is_a_duplicate(
    demo_city: Engine, settings: Settings, sign_in: SignIn, place: tuple[str, float, float]
) -> None:
    code, lon, lat = place
    lamp = _lamp(demo_city, place, "完好")
    body = event_body(lon, lat, category="BJ0116", condition="1", component=lamp, reporter="route-gw")
    case_id, unit, history = _reported(demo_city, body)
    assert unit == "润州区路灯管理所"
    assert ("routed", f"路灯 {lamp} 权属：润州区路灯管理所") in history
    with demo_city.begin() as conn:  # filed by a supervisor
        conn.execute(text("UPDATE \"case\" SET state = 'filed' WHERE id = :id"), {"id": case_id})
    again = event_body(lon + 0.005, lat, category="BJ0116", condition="1", component=lamp, reporter="route-gw-2")
    second, _, _ = _reported(demo_city, again)  # 450 m away, beyond the duplicate distance: the same lamp
    headers = sign_in("route-district", Role.DISTRICT, code[:6])
    with TestClient(create_app(settings)) as client:
        found = client.get(f"/v1/cases/{second}/duplicates", headers=headers).json()["candidates"]
    assert [(c["id"], c["component"]) for c in found] == [(str(case_id), lamp)]


def test_verifying_a_component_case_sets_the_components_state(
    demo_city: Engine, settings: Settings, sign_in: SignIn, place: tuple[str, float, float]
) -> None:
    code, lon, lat = place
    lamp = _lamp(demo_city, place, "破损")
    body = event_body(lon, lat, category="BJ0116", condition="1", component=lamp, reporter="route-gw")
    case_id, _, _ = _reported(demo_city, body)
    with demo_city.begin() as conn:  # fixed, and waiting for verification
        conn.execute(text("UPDATE \"case\" SET state = 'resolved' WHERE id = :id"), {"id": case_id})
    headers = sign_in("route-community", Role.COMMUNITY, code[:12])
    with TestClient(create_app(settings)) as client:
        page = client.get(f"/work/cases/{case_id}", headers=headers)
        assert page.status_code == 200 and '<select name="component_status"' in page.text  # the verify form asks
        assert all(f'<option value="{s}">' in page.text for s in ("完好", "破损", "丢失", "占用", "废弃"))
        assert lamp in page.text and "润州区路灯管理所" in page.text  # the case page names its component and unit
        assert "立案条件 1 路灯不亮或亮灯率不达标" in page.text  # its filing condition in words
        wrong = client.post(
            f"/v1/cases/{case_id}/transitions", json={"action": "reject_resolution", "note": "未修好",
                                                      "component_status": "完好"}, headers=headers,
        )  # fmt: skip
        assert wrong.status_code == 422 and "component_status" in wrong.text
        done = client.post(
            f"/v1/cases/{case_id}/transitions", json={"action": "verify", "component_status": "完好"}, headers=headers
        )
        assert done.status_code == 200, done.text
    with demo_city.connect() as conn:
        assert conn.execute(text("SELECT status FROM component WHERE code = :c"), {"c": lamp}).scalar_one() == "完好"


def test_areas_of_responsibility_come_from_a_map_file_and_a_mistake_is_one_line(
    demo_city: Engine, database_url: str, tmp_path: Path, place: tuple[str, float, float]
) -> None:
    """A park as a polygon, a road as a line buffered 20 m; a point instead of an area is one line, no traceback."""
    _, lon, lat = place
    park = shapely.Point(lon, lat).buffer(0.001)
    road = shapely.LineString([(lon - 0.005, lat + 0.002), (lon + 0.005, lat + 0.002)])
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(shape), "properties": {"单位": unit, "名称": name}}
        for shape, unit, name in ((park, PARK.unit, PARK.name), (road, "人民路养护站", "人民路"))
    ]
    good = tmp_path / "areas.geojson"
    good.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8"
    )
    env = os.environ | {"GRIDGOV_DATABASE_URL": database_url, "GRIDGOV_LANG": "zh", "COLUMNS": "200"}
    command = [sys.executable, "-m", "cli.main", "registers", "areas"]
    done = subprocess.run([*command, str(good), "--buffer-m", "20"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "已导入 2 个责任区（2 个单位）"
    with demo_city.begin() as conn:
        width = conn.execute(  # the road's area: 20 m either side of its line
            text("SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) FROM unit_area"
                 " WHERE unit = '人民路养护站'"), {"x": lon, "y": lat + 0.002 + 30 / 111_320},
        ).scalar_one()  # fmt: skip
        conn.execute(text("DELETE FROM unit_area WHERE unit = '人民路养护站'"))
    assert 9 < width < 11  # a point 30 m off the line lies 10 m outside the 20 m buffer
    features[1]["geometry"] = {"type": "Point", "coordinates": [lon, lat]}
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8"
    )
    refused = subprocess.run([*command, str(bad)], env=env, capture_output=True, text=True)
    said = (refused.stdout + refused.stderr).strip()
    assert refused.returncode != 0 and "Traceback" not in said and len(said.splitlines()) == 1
    assert "第 3 行的几何不是有效的面（公园）或线（道路）" in said
