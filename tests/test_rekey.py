"""A key rotation while the API serves reads: every number readable throughout, under the new key alone after."""

import dataclasses
import json
import os
import subprocess
import sys
import threading
from datetime import date, timedelta

import pytest
from argon2 import PasswordHasher
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Principal, Role
from api.app import create_app
from api.auth import issue_token
from api.settings import Settings
from geo.demo import load_demo
from registers.changes import sealed_person
from registers.free_text import SEALED_TEXT
from registers.ids import check_digit
from registers.protect import Protector
from registers.rekey import rekey
from registers.store import ID_COLUMN, PHONE_COLUMN
from tests.pipeline_fixtures import grid_point
from tests.registers_fixtures import add_household

NEW_KEY = "cd" * 32
BABY = "110105202501010011"
PEOPLE = 40


def _id(n: int) -> str:
    body = f"32111119{60 + n % 40:02d}0{1 + n % 9}1{n % 10}{n:03d}"[:17]
    return body + check_digit(body)


def test_a_rotation_reseals_every_number_while_the_api_reads_them(
    scratch_settings: Settings, scratch_engine: Engine
) -> None:
    old = scratch_settings.registers.pii_key
    load_demo(scratch_engine)
    grid, lon, lat = grid_point(scratch_engine, 5)
    numbers = [_id(n) for n in range(PEOPLE)]
    household = add_household(
        scratch_engine, scratch_settings, grid, (lon, lat), "0301", [(f"人{n}", i, ()) for n, i in enumerate(numbers)],
        date(2026, 1, 1),
    )  # fmt: skip
    with scratch_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sealed_text (source, ref, sealed) VALUES ('note', 'rotation:1', :s)"),
            {"s": Protector(old).seal("联系 13912345678", SEALED_TEXT)},
        )
        conn.execute(
            text(
                "INSERT INTO app_user (username, password_hash, role, scope) VALUES ('rekey-gw', :h, 'gridworker', :g)"
            ),
            {"h": PasswordHasher().hash("x"), "g": grid},
        )
        conn.execute(
            text(
                "INSERT INTO app_user (username, password_hash, role, scope) VALUES ('rekey-com', :h, 'community', :c)"
            ),
            {"h": PasswordHasher().hash("x"), "c": grid[:12]},
        )
        proposed = {"household": household, "name": "新生", "relation": "孙", "tags": []}
        proposed |= sealed_person(Protector(old), BABY, "13900000000")  # a proposal waiting for the community
        conn.execute(
            text(
                "INSERT INTO register_change (client_id, kind, grid_code, household_id, details, reason, state,"
                " proposed_by) VALUES (gen_random_uuid(), 'add_person', :g, :h, CAST(:d AS jsonb), '出生', 'proposed',"
                " 'rekey-gw')"
            ),
            {"g": grid, "h": household, "d": json.dumps(proposed)},
        )
    rotated = dataclasses.replace(
        scratch_settings,
        registers=scratch_settings.registers.model_copy(update={"pii_key": NEW_KEY, "pii_old_keys": old}),
    )
    token = issue_token(rotated.api.secret_key, Principal("rekey-gw", Role.GRIDWORKER, grid), timedelta(hours=1))
    worker = {"Authorization": f"Bearer {token}"}

    def read(client: TestClient) -> list[str]:
        answer = client.get(f"/v1/households/{household}", headers=worker, params={"purpose": "核对"})
        assert answer.status_code == 200, answer.text
        return sorted(p["id_number"] for p in answer.json()["people"])

    with TestClient(create_app(rotated)) as client:
        assert read(client) == sorted(numbers)  # all under the old key still
        done: list[object] = []
        rotation = threading.Thread(target=lambda: done.append(rekey(scratch_engine, rotated.registers.protector(), 1)))
        rotation.start()
        reads = 0
        while rotation.is_alive() or reads == 0:
            assert read(client) == sorted(numbers)  # a mix of keys while it runs: each number opens
            found = client.post("/v1/people/search", json={"id_number": numbers[reads % PEOPLE], "purpose": "核对"},
                                 headers=worker)  # fmt: skip
            assert found.status_code == 200 and len(found.json()["people"]) == 1, found.text
            reads += 1
        rotation.join()
        assert read(client) == sorted(numbers)
    (result,) = done
    assert (result.resealed, result.current) == (PEOPLE + 2, 0)  # type: ignore[attr-defined]

    new_only, old_only = Protector(NEW_KEY), Protector(old)
    with scratch_engine.connect() as conn:
        people = conn.execute(text("SELECT id_sealed, phone_sealed, id_hash FROM person")).all()
        sealed = conn.execute(text("SELECT sealed FROM sealed_text")).scalar_one()
    assert sorted(new_only.open(bytes(p.id_sealed), ID_COLUMN) for p in people) == sorted(numbers)
    assert {new_only.open(bytes(p.phone_sealed), PHONE_COLUMN) for p in people} == {"13800138000"}
    assert {p.id_hash for p in people} == {new_only.search_hash(n) for n in numbers}
    assert new_only.open(bytes(sealed), SEALED_TEXT) == "联系 13912345678"
    for value, column in [*((bytes(p.id_sealed), ID_COLUMN) for p in people), (bytes(sealed), SEALED_TEXT)]:
        with pytest.raises(InvalidTag):
            old_only.open(value, column)
    again = rekey(scratch_engine, rotated.registers.protector())
    assert (again.resealed, again.current) == (0, PEOPLE + 2)  # a second run finds nothing left to do

    community = issue_token(
        rotated.api.secret_key, Principal("rekey-com", Role.COMMUNITY, grid[:12]), timedelta(hours=1)
    )
    with TestClient(create_app(rotated)) as client, scratch_engine.connect() as conn:
        change = conn.execute(text("SELECT id FROM register_change")).scalar_one()
        decided = client.post(
            f"/v1/register-changes/{change}/decision",
            headers={"Authorization": f"Bearer {community}"},
            json={"approve": True},
        )
        assert decided.status_code == 200, decided.text  # the proposal, resealed, applies under the new key
        assert BABY in read(client)


def test_rekey_without_an_old_key_is_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRIDGOV_PII_OLD_KEYS"} | {"GRIDGOV_LANG": "zh"}
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "registers", "rekey"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stdout.strip() == "错误：请在 GRIDGOV_PII_OLD_KEYS 中填写要替换的旧密钥（GRIDGOV_PII_KEY 填新密钥）"
