"""Migration 0021: rows typed before the text checks lose their control characters and overrides, and say so."""

import logging

import pytest
from alembic import command
from sqlalchemy import Engine, text

from api.settings import Settings
from db.engine import alembic_config, upgrade


def test_rows_from_before_the_checks_are_cleaned_and_each_change_reported(
    scratch_settings: Settings, scratch_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    url = scratch_settings.database.url
    command.downgrade(alembic_config(url), "0020")
    with scratch_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app_user (username, password_hash, role, scope, display_name) VALUES"
                " ('dirty', 'x', 'department', :scope, :name), ('clean', 'x', 'department', '城管局', '王芳')"
            ),
            {"scope": "城管\u202e局", "name": "李\x1b[31m四"},
        )
        conn.execute(
            text("INSERT INTO work_note (username, day, note) VALUES ('dirty', '2026-12-01', :note)"),
            {"note": "第一行\n第二\x07行\t完\u2066"},
        )
    with caplog.at_level(logging.WARNING, logger="gridgov.migrations"):
        upgrade(url, "0021")
    with scratch_engine.connect() as conn:
        users = dict(conn.execute(text("SELECT username, scope || '|' || display_name FROM app_user")).all())
        note = conn.execute(text("SELECT note FROM work_note WHERE username = 'dirty'")).scalar_one()
    assert users == {"dirty": "城管局|李[31m四", "clean": "城管局|王芳"}  # the escape goes, its text stays
    assert note == "第一行\n第二行\t完"  # free text keeps its line ends and tabs
    reported = sorted(r.getMessage() for r in caplog.records if r.name == "gridgov.migrations")
    assert reported == [
        "cleaned control characters from 1 row(s) of app_user.display_name",
        "cleaned control characters from 1 row(s) of app_user.scope",
        "cleaned control characters from 1 row(s) of work_note.note",
    ]
