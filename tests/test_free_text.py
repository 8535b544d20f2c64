"""Personal numbers in free text: found, masked as the registers mask them, the original sealed; rows from
before are treated the same way after the migrations."""

import json
import os
import subprocess
import sys
import uuid

from alembic import command
from sqlalchemy import Engine, text

from api.settings import Settings
from db.engine import alembic_config
from registers.free_text import SEALED_TEXT, masked, protect
from registers.old_text import seal_old_text
from registers.protect import Protector

TEXT = "居民 990100199110100017 电话 17000000001，车 苏L12345 挡道，座机 0511-85551234"
SHOWN = "居民 990100********0017 电话 170****0001，车 苏L***45 挡道，座机 051******1234"
KEY = "ab" * 32


def test_ids_phones_landlines_and_plates_are_masked_and_nothing_else() -> None:
    assert masked(TEXT) == SHOWN
    assert masked("苏L·D1234 停在消防通道") == "苏L****34 停在消防通道"  # a new-energy plate with its dot
    untouched = "订单 990100199110100018，网格 321111003001022，门牌 12 号，时间 2026-12-06 09:30，电话 110"
    assert masked(untouched) == untouched  # a wrong check digit is no ID number; codes and short numbers stay
    assert masked("身份证11010519491231002x") == "身份证110105********002x"  # a lower-case check X too
    assert masked("") == ""


def test_the_original_is_sealed_only_when_something_was_masked() -> None:
    protector = Protector(KEY)
    shown, sealed = protect(TEXT, protector)
    assert shown == SHOWN and sealed is not None and protector.open(sealed, SEALED_TEXT) == TEXT
    assert protect("楼道堆物", protector) == ("楼道堆物", None)


def test_text_stored_before_is_masked_and_sealed_by_the_upgrade(
    scratch_settings: Settings, scratch_engine: Engine
) -> None:
    url = scratch_settings.database.url
    command.downgrade(alembic_config(url), "0021")
    dirty, clean = uuid.uuid4(), uuid.uuid4()
    with scratch_engine.begin() as conn:
        for event_id, description in ((dirty, TEXT), (clean, "楼道堆物 3 处")):
            conn.execute(
                text(
                    "INSERT INTO event (id, kind, category, occurred_at, received_at, reporter, description,"
                    " attachments, crs, lon_reported, lat_reported, geom, locate_method, content_hash)"
                    " VALUES (:id, 'incident', '0102', now(), now(), 'gw', :d, CAST(:a AS jsonb), 'wgs84', 119.4,"
                    " 32.2, ST_SetSRID(ST_MakePoint(119.4, 32.2), 4326), 'none', 'x')"
                ),
                {"id": event_id, "d": description, "a": json.dumps([])},
            )
    env = os.environ | {"GRIDGOV_DATABASE_URL": url, "GRIDGOV_LANG": "zh"}
    run = subprocess.run([sys.executable, "-m", "cli.main", "db", "upgrade"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[0] == "已遮挡并加密此前保存的个人号码：描述 1 条，说明 0 条"
    protector = scratch_settings.registers.protector()
    with scratch_engine.connect() as conn:
        shown = dict(conn.execute(text("SELECT id, description FROM event")).all())
        sealed = conn.execute(text("SELECT source, ref, sealed FROM sealed_text")).all()
    assert shown == {dirty: SHOWN, clean: "楼道堆物 3 处"}
    assert [(s.source, s.ref) for s in sealed] == [("description", str(dirty))]
    assert Protector(scratch_settings.registers.pii_key).open(bytes(sealed[0].sealed), SEALED_TEXT) == TEXT
    assert seal_old_text(scratch_engine, protector) == {"description": 0, "note": 0}  # a second run changes nothing
