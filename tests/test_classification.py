"""The national classification (GB/T 30428.2): the data against a published table, filing conditions
and their limits, old platform codes taken in under the new ones, and the migration of old cases."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import Engine, text

from api.settings import Settings
from cases.categories import default_categories, former_codes, load_categories, rule_key
from cases.rules import Level, Stage, load_rules
from cases.store import loop_cases, take_in
from db.engine import alembic_config, upgrade
from db.tables import case as case_table
from streams.schema import Event
from tests.pipeline_fixtures import event_body
from tests.registers_fixtures import write_event

# Hand-copied from published tables that follow the standard: the event 小类 of 施工管理 and 突发事件 and the
# first of 街面秩序 as a city's reporting app lists them in the standard's order, and the first component 小类
# of 公用设施 as published survey identifiers number them (320508 01 01 000001 is a 上水井盖 of 姑苏区,
# 320582 01 02 048188 a 污水井盖 of 张家港).
PUBLISHED = {
    "0301": "施工扰民", "0302": "工地扬尘", "0303": "施工废弃料", "0304": "施工占道", "0305": "无证掘路",
    "0401": "路面塌陷", "0402": "自来水管破裂", "0403": "燃气管道破裂", "0404": "下水道堵塞或破损",
    "0405": "热力管道破裂", "0406": "道路积水", "0407": "道路积雪结冰", "0408": "架空线缆损坏",
    "0501": "无照经营游商", "0502": "流浪乞讨", "0503": "占道废品收购", "0504": "店外经营",
    "0102": "暴露垃圾", "0103": "积存垃圾渣土", "0104": "道路不洁", "0105": "水域不洁",
    "BJ0101": "上水井盖", "BJ0102": "污水井盖", "BJ0103": "雨水井盖", "BJ0104": "雨水箅子", "BJ0105": "电力井盖",
}  # fmt: skip
BEFORE_HASH = "60b2439ff0a510231a75998dd4002fd7c9eed8bea31c255b057f5ec98a0c84b0"
PUBLISHED_IDENTIFIERS = {"3205080101000001": "上水井盖", "3205820102048188": "污水井盖"}


def test_the_classification_follows_the_published_table() -> None:
    known = default_categories()
    assert {code: known[code].name for code in PUBLISHED} == PUBLISHED
    for identifier, name in PUBLISHED_IDENTIFIERS.items():  # 6 region + 2 大类 + 2 小类 + 6 serial
        assert len(identifier) == 16 and known["BJ" + identifier[6:10]].name == name
    events = {c.group_name for c in known.values() if c.kind == "event" and not c.extension}
    components = {c.group_name for c in known.values() if c.kind == "component"}
    assert events == {"市容环境", "宣传广告", "施工管理", "突发事件", "街面秩序", "其他事件"}
    assert components == {"公用设施", "道路交通", "市容环境", "园林绿化", "房屋土地", "其他设施"}
    assert known["0201"].group == "sj02" and known["0204"].group == "sj02"  # 宣传广告, not 市容 or 治安
    extensions = {c.code for c in known.values() if c.extension}
    assert {"0151", "0651", "8301", "9101"} <= extensions and "0102" not in extensions
    lamp = known["BJ0116"]
    assert [(c.number, c.unit, c.clock, c.fix) for c in lamp.conditions] == [
        ("1", "区路灯管理所", "working", "2d"),
        ("2", "区路灯管理所", "calendar", "4h"),
    ]


@pytest.mark.parametrize(
    ("text_", "words"),
    [
        ('event:\n  - {code: "01", name: a, categories: [{code: "0151", name: b, name_en: b, sla_class: minor}]}\n',
         "51-99 are city extensions"),
        ('event:\n  - {code: "01", name: a, categories: [{code: "0201", name: b, name_en: b, sla_class: minor}]}\n',
         "its 大类's two digits"),
        ('component:\n  - {code: "01", name: a, categories: [{code: "0101", name: b, name_en: b, sla_class: minor,'
         " conditions: [{text: t, unit: u, clock: sometimes, fix: 1h, closing: c}]}]}\n", "use calendar or working"),
        ('event:\n  - {code: "01", name: a, categories: [{code: "0101", name: b, name_en: b, sla_class: minor},'
         ' {code: "0101", name: b, name_en: b, sla_class: minor}]}\n', "appears twice"),
    ],
)  # fmt: skip
def test_a_bad_classification_file_is_refused_naming_what_is_wrong(tmp_path: Path, text_: str, words: str) -> None:
    path = tmp_path / "classification.yaml"
    path.write_text(text_, encoding="utf-8")
    with pytest.raises(ValueError, match=words):
        load_categories(path)


def _event(category: str, now: datetime | None, **extra: object) -> Event:
    body = event_body(116.4, 39.9, category=category, **extra)
    return Event.model_validate_json(json.dumps(body), context={"now": now} if now else None)


def test_old_platform_codes_are_taken_in_under_the_standard_ones() -> None:
    now = datetime.now(UTC)
    assert _event("8203", now).category == "0151"  # 道路破损, a city extension of 市容环境
    assert _event("8101", now).category == "0507"  # 乱堆物堆料 → 街面秩序
    lamp = _event("8202", now)  # 路灯不亮: the street light's condition 1, so an old phone's report goes in
    assert (lamp.category, lamp.condition) == ("BJ0116", "1")
    assert {old: (c.code, condition) for old, (c, condition) in former_codes().items()} == {
        "8101": ("0507", None), "8102": ("0501", None), "8103": ("0510", None), "8201": ("BJ0113", "1"),
        "8202": ("BJ0116", "1"), "8203": ("0151", None), "8204": ("BJ0104", "2"), "8205": ("0651", None),
    }  # fmt: skip


def test_a_report_names_its_filing_condition_where_there_are_several() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValidationError, match="several filing conditions: send condition, one of 1 路灯不亮"):
        _event("BJ0116", now)
    with pytest.raises(ValidationError, match=r"has no condition 3 \(its conditions: 1, 2\)"):
        _event("BJ0116", now, condition="3")
    assert _event("BJ0116", now, condition="2").condition == "2"
    assert _event("BJ0116", None).condition is None  # read back from the topic: never refused
    # An event without a condition hashes what it hashed before the field existed (resends of reports queued
    # before stay equal): this fixed report's hash was taken with the schema of before (commit 011e2a6).
    fixed = {
        "schema_version": 2, "id": "5f0e7c1e-2b7d-4c39-9a51-0d1f5c1b2a33", "kind": "incident", "category": "0102",
        "occurred_at": "2026-12-01T02:00:00+00:00", "location": {"lon": 116.4, "lat": 39.9, "crs": "wgs84"},
        "reporter": "gw-1", "description": "暴露垃圾",
    }  # fmt: skip
    assert Event.model_validate_json(json.dumps(fixed)).content_hash() == BEFORE_HASH


def test_a_case_takes_its_limits_and_unit_from_its_filing_condition(demo_city: Engine) -> None:
    """路灯 condition 2 (灯杆倾斜 …, 危及安全): calendar clock, 4 hours to fix, unit 区路灯管理所.

    Reported Saturday 6 June 2026 at 22:00 Beijing time (14:00 UTC): on the calendar clock the intake is
    due 2 hours later, at 00:00 Sunday (16:00 UTC), although no one works then; condition 1 (不亮) would
    have waited for Monday's working hours.
    """
    rules = load_rules()
    opened = datetime(2026, 6, 6, 14, 0, tzinfo=UTC)
    assert rules.stage_deadline("BJ0116/2", Stage.INTAKE, opened) == opened + timedelta(hours=2)
    assert rules.deadline("BJ0116/2", Level.STREET, opened) == opened + timedelta(hours=4)
    assert rules.stage_deadline("BJ0116/1", Stage.INTAKE, opened) == datetime(2026, 6, 8, 2, 30, tzinfo=UTC)
    assert rules.department("BJ0116/2") == "区路灯管理所" and rules.department("BJ0116") == "区住房和城乡建设局"
    from tests.pipeline_fixtures import grid_point

    _, lon, lat = grid_point(demo_city)
    case_id = write_event(demo_city, event_body(lon, lat, category="BJ0116", condition="2"), opened)
    try:
        with demo_city.begin() as conn:
            row = conn.execute(loop_cases().where(case_table.c.id == case_id)).one()
            assert (row.category, row.condition) == ("BJ0116", "2")
            after = take_in(conn, row, rules)
        assert after.category == rule_key("BJ0116", "2") and after.deadline == opened + timedelta(hours=2)
    finally:
        with demo_city.begin() as conn:
            conn.execute(text("DELETE FROM case_transition WHERE case_id = :id"), {"id": case_id})
            conn.execute(text('DELETE FROM "case" WHERE id = :id'), {"id": case_id})
            conn.execute(text("DELETE FROM event WHERE id = :id"), {"id": case_id})


def test_old_cases_are_mapped_to_the_standard_codes_in_place(
    scratch_settings: Settings, scratch_engine: Engine
) -> None:
    """At schema 0030: a 路灯不亮 case (8202), a 井盖缺失破损 one (8201, urgent then), a 暴露垃圾 one (0102)."""
    url = scratch_settings.database.url
    command.downgrade(alembic_config(url), "0030")
    cases = {code: uuid.uuid4() for code in ("8202", "8201", "0102")}
    with scratch_engine.begin() as conn:
        for code, case_id in cases.items():
            sla_class = "urgent" if code == "8201" else "general"
            conn.execute(
                text(
                    'INSERT INTO "case" (id, category, sla_class, state, level, opened_at, number)'
                    " VALUES (:id, :code, :sla, 'filed', 'grid', now(), :number)"
                ),
                {"id": case_id, "code": code, "sla": sla_class, "number": f"T{case_id.hex[:20]}"},
            )
    upgrade(url, "head")
    with scratch_engine.connect() as conn:
        rows = {
            r.id: (r.category, r.condition, r.sla_class)
            for r in conn.execute(text('SELECT id, category, condition, sla_class FROM "case"'))
        }
        mapping = {
            r[0]: (r[1], r[2]) for r in conn.execute(text("SELECT old_code, new_code, condition FROM category_mapping"))
        }
    assert rows[cases["8202"]] == ("BJ0116", "1", "general")
    assert rows[cases["8201"]] == ("BJ0113", "1", "general")  # its limits now come from condition 1: 2 hours
    assert rows[cases["0102"]] == ("0102", None, "general")
    assert mapping == {old: (c.code, k) for old, (c, k) in former_codes().items()}  # as the data says


def test_rules_check_prints_each_filing_conditions_limits_and_renames_old_codes(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    shipped = (Path(__file__).parents[1] / "cases" / "data" / "sla_rules.yaml").read_text(encoding="utf-8")
    rules.write_text(shipped.replace('"0151": {deadlines', '"8203": {deadlines'), encoding="utf-8")  # an old code
    env = os.environ | {"COLUMNS": "300", "GRIDGOV_LANG": "zh"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "rules", "check", str(rules)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "规则文件中的类别 8203 已改为国家标准代码 0151（道路破损），请在文件中改写为 0151" in lines
    lamp = next(line for line in lines if line.strip().startswith("BJ0116/2"))
    assert "立案条件2 灯杆倾斜、破损或线路外露，危及安全" in lamp and "fix at grid 4 calendar hours" in lamp
    assert "responsible unit 区路灯管理所" in lamp
