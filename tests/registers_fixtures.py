"""Households and people put straight into the registers, and visits written as the worker records them."""

import json
import uuid
from datetime import date, datetime
from typing import Any

import shapely
from sqlalchemy import Engine, text

from api.settings import Settings
from geo.locator import Locator
from registers.ids import birth_date
from registers.protect import Protector
from registers.rows import BuildingRow, PersonRow
from registers.store import import_buildings, import_people
from streams import stages
from streams.schema import Event, Received
from streams.writer import write_events
from tests.pipeline_fixtures import event_body


def add_household(
    engine: Engine,
    settings: Settings,
    grid: str,
    point: tuple[float, float],
    room: str,
    people: list[tuple[str, str, tuple[str, ...]]],
    registered_on: date,
    building: str = "901",
) -> str:
    """A household of ``people`` (name, ID number, tags) in a building of ``grid``; its id."""
    rows = [
        PersonRow(
            0,
            name,
            id_number,
            "13800138000",
            birth_date(id_number) or date(1950, 1, 1),
            "户主",
            grid + building,
            "1",
            room,
            None,
            tags,
        )
        for name, id_number, tags in people
    ]
    with engine.begin() as conn:
        import_buildings(conn, [BuildingRow(0, grid + building, grid, "测试楼", None, shapely.Point(*point))])
        import_people(conn, rows, Protector(settings.registers.pii_key), registered_on=registered_on)
    return rows[0].household_id


def write_event(engine: Engine, body: dict[str, object], at: datetime) -> uuid.UUID:
    """An event recorded as the worker would write it (at any time, however long ago); its id."""
    event = Event.model_validate_json(json.dumps(body | {"occurred_at": at.isoformat()}))
    write_events(engine, stages.locate([stages.Decoded(Received.stamp(event, at), 0, 0)], Locator(engine).index()))
    return event.id


def write_visit(engine: Engine, household: str, at: datetime, point: tuple[float, float], reporter: str) -> uuid.UUID:
    """A visit to ``household`` recorded at ``at``."""
    return write_event(
        engine, event_body(*point, kind="visit", category="9002", reporter=reporter, household=household), at
    )


def rolled_as_counted(engine: Engine) -> bool:
    """Whether ``household_visit_roll`` (kept by its trigger) holds what grouping the households gives now."""
    key = "grid_code, tags, registered_on, CAST(date_trunc('month', last_visit_on) AS date)"
    with engine.connect() as conn:
        rolled = conn.execute(
            text("SELECT grid_code, tags, registered_on, last_month, n FROM household_visit_roll WHERE n > 0")
        ).all()
        counted = conn.execute(text(f"SELECT {key}, count(*) FROM household GROUP BY 1, 2, 3, 4")).all()
    return {_key(row) for row in rolled} == {_key(row) for row in counted}


def _key(row: Any) -> tuple[object, ...]:
    return (row[0], tuple(row[1]), *row[2:])
