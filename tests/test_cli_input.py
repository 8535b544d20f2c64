"""Command-line mistakes are one line naming what to send instead, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from geo.crs import CRS, source_system


@pytest.mark.parametrize(
    ("spelling", "system"),
    [
        ("GCJ-02", CRS.GCJ02),
        ("gcj02", CRS.GCJ02),
        ("GCJ_02", CRS.GCJ02),
        ("BD-09", CRS.BD09),
        ("bd09ll", CRS.BD09),
        ("WGS-84", CRS.WGS84),
        ("EPSG:4326", CRS.WGS84),
        ("epsg:4490", CRS.CGCS2000),
        ("CGCS2000", CRS.CGCS2000),
        ("EPSG:4547", "EPSG:4547"),
    ],
)
def test_usual_spellings_of_a_coordinate_system_are_accepted(spelling: str, system: CRS | str) -> None:
    assert source_system(spelling) == system


def test_an_unknown_coordinate_system_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown coordinate system 'mars'; use wgs84 .*gcj02 .*EPSG:<code>"):
        source_system("mars")


def _gridgov(*args: str) -> subprocess.CompletedProcess[str]:
    # An unreachable database: each mistake must be reported before anything is asked of it.
    env = os.environ | {"GRIDGOV_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("crs", ["mars", "EPSG:99999999"])
def test_a_wrong_source_crs_is_one_line(tmp_path: Path, crs: str) -> None:
    grids = tmp_path / "grids.geojson"
    grids.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "321111001001001",'
        ' "name": "一网格"}, "geometry": {"type": "Polygon", "coordinates": [[[119.4, 32.2], [119.41, 32.2],'
        " [119.41, 32.21], [119.4, 32.2]]]}}]}"
    )
    done = _gridgov("boundaries", "import", str(grids), "--level", "grid", "--source-crs", crs)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 1
    assert "Traceback" not in output
    assert output.count("\n") == 0, output
    assert f"unknown coordinate system '{crs}'" in output
    assert "gcj02 (GCJ-02)" in output
