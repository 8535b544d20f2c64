"""The tables declared in ``db.tables``, ``db.register_tables`` and ``db.roll_tables`` are what the migrations build."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from db import notice_tables, open311_tables, register_tables, roll_tables  # noqa: F401  (declare their tables in the same metadata)
from db.tables import active_area, area, metadata

POSTGIS_OWN = {"spatial_ref_sys"}  # created by the extension, not by us


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_name": lambda name, kind, _: not (kind == "table" and name in POSTGIS_OWN),
            },
        )
        return list(compare_metadata(context, metadata))


def test_declared_tables_match_the_migrated_database(engine: Engine) -> None:
    assert _differences(engine) == []


def test_the_active_area_view_has_the_area_columns(engine: Engine) -> None:
    columns = [c["name"] for c in inspect(engine).get_columns("active_area")]
    assert columns == [c.name for c in area.columns] == [c.name for c in active_area.columns]
