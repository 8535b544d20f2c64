"""Register imports from the browser's route: in the background, the clerk's own area only, worded on reading.

A file from outside the area is a report of bad rows; a file that is no table fails with its reason; an
import whose process ended reads as failed; the limits (size, name) are refusals that say what to send.
"""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.register_imports import MAX_UPLOAD_BYTES, STALLED_S
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import grid_point

G = 244  # a demo grid no other test uses


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _buildings(rows: list[tuple[str, str, float, float]]) -> bytes:
    lines = ["楼栋编码,网格,楼栋名称,经度,纬度", *(f"{c},{g},测试楼,{x},{y}" for c, g, x, y in rows)]
    return ("\n".join(lines) + "\n").encode()


def _run(
    client: TestClient,
    headers: dict[str, str],
    body: bytes,
    name: str = "楼栋.csv",
    kind: str = "buildings",
    **params: Any,
) -> Any:
    started = client.post(
        "/v1/register-imports", headers=headers, params={"kind": kind, "filename": name, **params}, content=body
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = client.get(f"/v1/register-imports/{started.json()['id']}", headers=headers)
        assert found.status_code == 200, found.text
        if found.json()["state"] != "running":
            return found.json()
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def test_a_clerk_imports_their_own_area_and_reads_the_report_in_their_language(
    client: TestClient, sign_in: SignIn, demo_city: Engine
) -> None:
    grid, lon, lat = grid_point(demo_city, G)
    other, olon, olat = grid_point(demo_city, 3)
    headers = sign_in("imp-com", Role.COMMUNITY, grid[:12])
    body = _buildings([(grid + "961", grid, lon, lat), (other + "961", other, olon, olat)])
    checked = _run(client, headers, body)
    assert (checked["state"], checked["bad"], checked["imported"]) == ("done", 1, False)
    (problem,) = checked["problems"]
    assert problem["line"] == 3 and problem["column"] == "网格（grid）" and "不在您的管辖范围" in problem["problem"]
    assert "2 行" in checked["summary"] and "仅检查" in checked["summary"]
    english = client.get(f"/v1/register-imports/{checked['id']}", headers=headers | {"Accept-Language": "en"})
    assert english.json()["problems"][0]["column"] == "grid (网格)"
    report = client.get(f"/v1/register-imports/{checked['id']}/report.csv", headers=headers)
    assert report.status_code == 200 and report.text.startswith("\ufeff行号,列,问题及改法")
    assert "attachment" in report.headers["content-disposition"]
    refused = _run(client, headers, body, dry_run="false")
    assert refused["imported"] is False and "未导入" in refused["summary"]
    done = _run(client, headers, _buildings([(grid + "961", grid, lon, lat)]), dry_run="false")
    assert done["imported"] is True and "新增 1" in done["summary"]
    someone = sign_in("imp-com-2", Role.COMMUNITY, grid[:12])
    assert client.get(f"/v1/register-imports/{done['id']}", headers=someone).status_code == 404  # the clerk's own


def test_a_file_that_is_no_table_fails_with_its_reason_and_an_abandoned_import_reads_failed(
    client: TestClient, sign_in: SignIn, demo_city: Engine
) -> None:
    headers = sign_in("imp-com-3", Role.COMMUNITY, grid_point(demo_city, G)[0][:12])
    broken = _run(client, headers, b"PK\x03\x04 not a workbook", name="楼栋.xlsx")
    assert broken["state"] == "failed" and ".xlsx" in broken["summary"]
    empty = _run(client, headers, b"", name="b.csv")
    assert empty["state"] == "failed" and "第一行须为列名" in empty["summary"]
    with demo_city.begin() as conn:  # as if its API process ended mid-way: no progress since
        conn.execute(
            text(
                "UPDATE register_import SET state = 'running', report = NULL, finished_at = NULL,"
                f" updated_at = now() - interval '{STALLED_S + 1} seconds' WHERE id = :id"
            ),
            {"id": empty["id"]},
        )
    stalled = client.get(f"/v1/register-imports/{empty['id']}", headers=headers).json()
    assert stalled["state"] == "failed" and "中断" in stalled["summary"]


def test_the_limits_say_what_to_send(client: TestClient, sign_in: SignIn, demo_city: Engine) -> None:
    headers = sign_in("imp-com-4", Role.COMMUNITY, grid_point(demo_city, G)[0][:12])
    name = client.post(
        "/v1/register-imports", headers=headers, params={"kind": "buildings", "filename": "楼栋.txt"}, content=b"x"
    )
    assert name.status_code == 422 and "filename" in name.text
    big = client.post(
        "/v1/register-imports",
        headers=headers | {"Content-Length": str(MAX_UPLOAD_BYTES + 1)},
        params={"kind": "buildings", "filename": "b.csv"},
        content=b"x",
    )
    assert big.status_code == 413
    gridworker = sign_in("imp-gw", Role.GRIDWORKER, grid_point(demo_city, G)[0])
    assert client.get("/work/registers/import", headers=gridworker).status_code == 403


def test_a_clerk_checks_a_component_survey_from_the_browser(
    client: TestClient, sign_in: SignIn, demo_city: Engine
) -> None:
    """A GeoJSON survey (部件普查) through the same importer: a row of an unknown class named by line, in Chinese."""
    grid, lon, lat = grid_point(demo_city, G)
    headers = sign_in("imp-com-comp", Role.COMMUNITY, grid[:12])
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"标识码": f"{grid[:6]}{cls}000951", "权属单位": "区路灯管理所", "状态": "完好"}}
        for cls in ("0116", "0199")
    ]  # fmt: skip
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()
    checked = _run(client, headers, body, name="部件.geojson", kind="components")
    assert (checked["state"], checked["bad"], checked["imported"]) == ("done", 1, False)
    (problem,) = checked["problems"]
    assert problem["line"] == 3 and problem["column"] == "标识码（code）" and "不是部件小类代码" in problem["problem"]
