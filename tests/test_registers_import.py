"""Importing the registers: every bad row reported by line and field; nothing imported unless asked; by key."""

import csv
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, text

from api.settings import Settings
from registers.cadence import load_visit_rules
from registers.importer import ImportReport, import_file
from registers.protect import Protector
from tests.pipeline_fixtures import grid_point
from tests.registers_fixtures import add_household
from web.messages import said

G1, G2 = 101, 102  # demo grids used by no other test
HEADER_B = ["code", "grid", "name", "lon", "lat", "head"]
HEADER_P = ["姓名", "身份证号", "电话", "与户主关系", "楼栋编码", "单元", "室", "标签"]
# Valid by the check digit (the 18th character), made up.
ID_A, ID_B, ID_C = "11010519491231002X", "110105195001010012", "11010519800229003X"
ID_E = "320111197101010058"  # each test its own people: an ID number is one person across the suite


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    return path


def _import(engine: Engine, settings: Settings, path: Path, kind: str, **options: bool) -> ImportReport:
    return import_file(engine, path, kind, Protector(settings.registers.pii_key), load_visit_rules(), **options)


@pytest.fixture(scope="module")
def grids(demo_city: Engine) -> tuple[tuple[str, float, float], tuple[str, float, float]]:
    return grid_point(demo_city, G1), grid_point(demo_city, G2)


def _text(report: ImportReport, lang: str = "en") -> str:
    return "\n".join(said(m, lang) for m in report.messages())


def _problems(report: ImportReport) -> set[tuple[int, str]]:
    return {(p.line, p.field) for p in report.problems}


def test_every_bad_building_row_is_reported_and_nothing_is_imported(
    demo_city: Engine, settings: Settings, grids: tuple[tuple[str, float, float], ...], tmp_path: Path
) -> None:
    (g1, lon1, lat1), (g2, lon2, lat2) = grids
    path = _csv(
        tmp_path / "buildings.csv",
        HEADER_B,
        [
            [f"{g1}901", g1, "一号楼", str(lon1), str(lat1), "王楼长"],  # line 2: good
            ["329999999999999901", "329999999999999", "无网格楼", str(lon1), str(lat1), ""],  # 3: unknown grid
            [f"{g1}902", g1, "错位楼", str(lon2), str(lat2), ""],  # 4: lies in another grid
            [f"{g1}903", g1, "", str(lon1), str(lat1), ""],  # 5: no name
            [f"{g1}901", g1, "一号楼", str(lon1), str(lat1), ""],  # 6: the code again
            [f"{g2}904", g1, "编码错", str(lon1), str(lat1), ""],  # 7: a code under another grid
        ],
    )
    report = _import(demo_city, settings, path, "buildings")
    assert _problems(report) == {(3, "grid"), (4, "lon"), (5, "name"), (6, "code"), (7, "code")}
    assert f"outside grid {g1}; it lies in or near grid {g2}" in _text(report)
    assert "nothing imported" in _text(report) and report.imported is None
    with demo_city.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM building WHERE code LIKE :g"), {"g": g1 + "%"}).scalar() == 0


def _clean_buildings(
    engine: Engine, settings: Settings, grids: tuple[tuple[str, float, float], ...], tmp: Path
) -> None:
    (g1, lon1, lat1), (g2, lon2, lat2) = grids
    path = _csv(
        tmp / "buildings-ok.csv",
        HEADER_B,
        [
            [f"{g1}901", g1, "一号楼", str(lon1), str(lat1), "王楼长"],
            [f"{g2}901", g2, "二号楼", str(lon2), str(lat2), ""],
        ],
    )
    report = _import(engine, settings, path, "buildings")
    assert report.problems == [] and report.imported is not None


def test_every_bad_person_row_is_reported_by_line_and_field(
    demo_city: Engine, settings: Settings, grids: tuple[tuple[str, float, float], ...], tmp_path: Path
) -> None:
    _clean_buildings(demo_city, settings, grids, tmp_path)
    g1 = grids[0][0]
    path = _csv(
        tmp_path / "people.csv",
        HEADER_P,
        [
            ["甲", ID_A, "13800138000", "户主", f"{g1}901", "1", "0101", "独居老人"],  # 2: good
            ["乙", "110105195001010016", "", "户主", f"{g1}901", "1", "0102", ""],  # 3: check digit
            ["丙", ID_B, "", "户主", f"{g1}999", "1", "0103", ""],  # 4: no such building
            ["丁", ID_C, "", "户主", f"{g1}901", "1", "0104", ""],  # 5: good
            ["戊", ID_C, "", "配偶", f"{g1}901", "1", "0104", ""],  # 6: the same person as line 5
            ["己", "110105196001010017", "", "", f"{g1}901", "1", "0105", ""],  # 7: no relation
            ["庚", "110105197001010011", "12", "户主", f"{g1}901", "1", "0106", "外星人"],  # 8: phone, tag
        ],
    )
    dry = _import(demo_city, settings, path, "people", dry_run=True)
    expected = {(3, "id_number"), (4, "building"), (6, "id_number"), (7, "relation"), (8, "phone"), (8, "tags")}
    assert _problems(dry) == expected
    assert "line 3, id_number (身份证号): the check digit should be 2, not 6" in _text(dry)
    assert "line 6, id_number (身份证号): the same person is already on line 5" in _text(dry)
    assert "dry run, nothing imported" in _text(dry)
    assert "第 3 行，身份证号（id_number）：校验码应为 2，而不是 6：有数字录错" in _text(dry, "zh")
    assert _text(dry, "zh").endswith("人员共 7 行，2 行无误，5 行有误：仅检查，未导入")
    refused = _import(demo_city, settings, path, "people")
    assert refused.imported is None
    with demo_city.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM person p JOIN household h ON h.id = p.household_id WHERE h.grid_code = :g"),
                {"g": g1},
            ).scalar()
            == 0
        )
    forced = _import(demo_city, settings, path, "people", skip_bad_rows=True)
    assert forced.imported is not None and (forced.imported.added, forced.good) == (2, 2)
    assert "2 added, 0 updated; 5 bad rows skipped" in _text(forced)


def test_a_clean_file_imports_and_a_reimport_updates_by_key(
    demo_city: Engine, settings: Settings, grids: tuple[tuple[str, float, float], ...], tmp_path: Path
) -> None:
    _clean_buildings(demo_city, settings, grids, tmp_path)
    g2 = grids[1][0]
    rows = [
        ["赵", "320111196102030013", "13900139000", "户主", f"{g2}901", "2", "0301", "党员"],
        ["钱", "320111196203040026", "", "配偶", f"{g2}901", "2", "0301", "残疾人"],
        ["孙", "320111200909100034", "", "户主", f"{g2}901", "", "0401", ""],
    ]
    first = _import(demo_city, settings, _csv(tmp_path / "p.csv", HEADER_P, rows), "people")
    assert first.problems == [] and first.imported is not None and first.imported.added == 3
    rows[0][2] = "13700137000"  # a new phone number
    book = Workbook()
    book.active.append(HEADER_P)
    for row in rows:
        book.active.append(row)
    book.save(tmp_path / "p.xlsx")
    second = _import(demo_city, settings, tmp_path / "p.xlsx", "people")
    assert second.imported is not None and (second.imported.added, second.imported.updated) == (0, 3)
    with demo_city.connect() as conn:
        households = conn.execute(
            text("SELECT id, members, tags FROM household WHERE grid_code = :g ORDER BY id"), {"g": g2}
        ).all()
        raw = conn.execute(
            text(
                "SELECT row_to_json(p)::text, encode(p.id_sealed, 'escape'), encode(p.phone_sealed, 'escape')"
                " FROM person p JOIN household h ON h.id = p.household_id WHERE h.grid_code = :g"
            ),
            {"g": g2},
        ).all()
    assert [(h.id, h.members, h.tags) for h in households] == [
        (f"{g2}901-0-0401", 1, []),
        (f"{g2}901-2-0301", 2, ["党员", "残疾人"]),
    ]
    secrets = ["320111196102030013", "320111196203040026", "320111200909100034", "13700137000", "13900139000"]
    for row in raw:  # the raw columns, as SQL reads them, hold neither the ID nor the phone number
        assert not any(secret in str(cell) for cell in row for secret in secrets)


def test_the_command_line_prints_the_report_and_a_missing_file_is_one_line(
    demo_city: Engine, settings: Settings, tmp_path: Path
) -> None:
    env = os.environ | {"GRIDGOV_DATABASE_URL": settings.database.url, "COLUMNS": "200", "GRIDGOV_LANG": "en"}

    def gridgov(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True)

    in_chinese = subprocess.run(
        [sys.executable, "-m", "cli.main", "registers", "import", str(tmp_path / "none.csv"), "--kind", "people"],
        env=env | {"GRIDGOV_LANG": "zh"},
        capture_output=True,
        text=True,
    )
    assert in_chinese.stdout.strip().splitlines() == [f"错误：{tmp_path / 'none.csv'}：文件不存在"]
    missing = gridgov("registers", "import", str(tmp_path / "none.csv"), "--kind", "people")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stdout.strip().splitlines() == [f"error: {tmp_path / 'none.csv'}: no such file"]
    path = _csv(tmp_path / "bad.csv", HEADER_P, [["甲", "110105195001010016", "", "户主", "x", "1", "1", ""]])
    bad = gridgov("registers", "import", str(path), "--kind", "people", "--dry-run")
    assert bad.returncode == 1
    assert "line 2, id_number (身份证号): the check digit should be 2, not 6" in bad.stdout
    assert "line 2, building (楼栋编码): no building x" in bad.stdout
    wrong_kind = gridgov("registers", "import", str(path), "--kind", "cats")
    assert wrong_kind.returncode == 2 and "Traceback" not in wrong_kind.stderr


def test_an_export_needs_a_reason_and_is_logged_and_a_deletion_too(
    demo_city: Engine, settings: Settings, tmp_path: Path
) -> None:
    grid, lon, lat = grid_point(demo_city, 107)
    household = add_household(
        demo_city,
        settings,
        grid,
        (lon, lat),
        "0101",
        [("导出", "320111197001010042", ()), ("删除", ID_E, ())],
        date(2026, 1, 1),
    )
    env = os.environ | {"GRIDGOV_DATABASE_URL": settings.database.url, "COLUMNS": "200", "GRIDGOV_LANG": "en"}

    def gridgov(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True)

    out = tmp_path / "export.xlsx"
    no_reason = gridgov("registers", "export", str(out), "--area", grid, "--reason", " ")
    assert no_reason.returncode == 2 and "--reason says what the export is for" in no_reason.stdout
    nowhere = tmp_path / "no-such-folder" / "export.csv"
    unwritten = gridgov("registers", "export", str(nowhere), "--area", grid, "--reason", "年度核查", "--actor", "lost")
    assert unwritten.returncode == 1 and unwritten.stdout.startswith(f"error: cannot write {nowhere}")
    assert "Traceback" not in unwritten.stderr and not nowhere.exists()
    done = gridgov("registers", "export", str(out), "--area", grid, "--reason", "年度核查", "--actor", "exporter")
    assert done.returncode == 0, done.stdout + done.stderr
    sheet = load_workbook(out).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:2] == ["name", "id_number"] and {r[1] for r in rows[1:]} == {"320111197001010042", ID_E}
    again = import_file(demo_city, out, "people", Protector(settings.registers.pii_key), load_visit_rules())
    assert again.problems == [] and again.imported is not None and again.imported.updated == 2  # it round-trips
    with demo_city.connect() as conn:
        person = conn.execute(
            text("SELECT id FROM person WHERE household_id = :h AND name = '删除'"), {"h": household}
        ).scalar_one()
    deleted = gridgov("registers", "delete-person", str(person), "--reason", "本人要求删除", "--actor", "exporter")
    assert deleted.returncode == 0, deleted.stdout
    assert gridgov("registers", "delete-person", str(person), "--reason", "x").returncode == 1
    with demo_city.connect() as conn:
        log = conn.execute(
            text(
                "SELECT action, rows, purpose, person_id FROM pii_access WHERE actor IN ('exporter', 'lost') "
                " ORDER BY id"
            )
        ).all()
        members = conn.execute(text("SELECT members FROM household WHERE id = :h"), {"h": household}).scalar_one()
    assert [(r.action, r.rows) for r in log] == [("export", 2), ("delete", 1)]  # nothing for the unwritten one
    assert log[0].purpose.startswith("年度核查") and log[1].person_id == person
    assert members == 1


def test_a_formula_cell_and_cells_beyond_the_header_are_refused_with_their_own_words(
    demo_city: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "people.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER_P)
    sheet.append(["=1+1", "110105194912310029", "", "户主", "x", "1", "0101", ""])  # line 2: a formula as the name
    sheet.append(["乙", "110105195001010012", "", "户主", "x", "1", "0102", "", "多余", "又一个"])  # 3: two cells more
    book.save(path)
    report = _import(demo_city, settings, path, "people", dry_run=True)
    found = {(p.line, p.field): p for p in report.problems}
    assert found[(2, "name")].key == "field.formula" and found[(2, "name")].values == {"formula": "=1+1"}
    assert not any(p.key == "field.empty" for p in report.problems)  # never "required; the cell is empty"
    assert [(p.line, p.field, p.key) for p in report.problems if p.line == 3] == [(3, "#9", "field.extra_cells")]
    assert "第 2 行，姓名（name）：是公式（=1+1）；请直接填写数值" in _text(report, "zh")
    assert "第 3 行，第 9 列：表头只有 8 列，这一行多出 2 个单元格" in _text(report, "zh")
    assert report.rows == 2 and report.good == 0
