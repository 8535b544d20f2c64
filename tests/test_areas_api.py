"""``/v1/areas`` and ``/v1/locate`` against the demo city."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from geo.crs import from_wgs84
from tests.conftest import SignIn


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine, sign_in: SignIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        client.headers.update(sign_in("gw-321111001001001", Role.GRIDWORKER, "321111001001001"))
        yield client


def test_an_area_is_a_geojson_feature(client: TestClient) -> None:
    response = client.get("/v1/areas/321111")
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["properties"]["name"] == "润州区"
    assert feature["properties"]["level"] == "district"
    assert feature["geometry"]["type"] == "MultiPolygon"


def test_children_are_a_feature_collection(client: TestClient) -> None:
    streets = client.get("/v1/areas/321111/children").json()
    assert streets["type"] == "FeatureCollection"
    assert len(streets["features"]) == 7
    assert all(f["properties"]["parent_code"] == "321111" for f in streets["features"])


def test_unknown_area_is_404_with_a_message(client: TestClient) -> None:
    response = client.get("/v1/areas/999999")
    assert response.status_code == 404
    assert "999999" in response.json()["message"]
    assert client.get("/v1/areas/999999/children").status_code == 404


def test_locate_a_gcj02_point(client: TestClient) -> None:
    grid = client.get("/v1/areas/321111001001/children").json()["features"][0]
    inside = client.get("/v1/locate", params={"lon": 119.43, "lat": 32.2}).json()
    assert inside["method"] == "inside" and inside["district"] == "321111"
    lon, lat = from_wgs84(inside["lon_wgs84"], inside["lat_wgs84"], "gcj02")
    converted = client.get("/v1/locate", params={"lon": lon, "lat": lat, "crs": "gcj02"}).json()
    assert converted["grid"] == inside["grid"]
    assert grid["properties"]["code"].startswith("321111001001")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": 200, "lat": 32}, "lon"),
        ({"lon": 119, "lat": -91}, "lat"),
        ({"lon": "nan", "lat": 32}, "lon"),
        ({"lon": 119, "lat": 32, "crs": "utm"}, "crs"),
        ({"lon": "east", "lat": 32}, "lon"),
    ],
)
def test_bad_locate_input_is_422_naming_the_field(client: TestClient, params: dict[str, object], field: str) -> None:
    response = client.get("/v1/locate", params=params)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_a_point_far_away_is_in_no_grid(client: TestClient) -> None:
    body = client.get("/v1/locate", params={"lon": 116.4, "lat": 39.9}).json()
    assert body["grid"] is None and body["method"] == "none"
