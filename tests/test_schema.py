"""The tables declared in ``db.tables``, ``db.register_tables`` and ``db.roll_tables`` are what the migrations build."""

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from db import notice_tables, open311_tables, register_tables, roll_tables, rules_tables, watch_tables  # noqa: F401  (declare their tables in the same metadata)
from db.partitions import MONTHLY
from db.tables import active_area, area, metadata

POSTGIS_OWN = {"spatial_ref_sys"}  # created by the extension, not by us
MONTHS = re.compile(rf"^({'|'.join(MONTHLY)})_(default|y\d{{4}}m\d{{2}})$")  # partitions, made by db.partitions
# Indexes on expressions: alembic cannot compare them (it reads them back in another spelling), so
# they are checked by their definition below.
ON_EXPRESSIONS = {"ix_case_place", "ix_case_list_order", "ix_case_unrolled_place"}


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_name": lambda name, kind, _: (
                    not (kind == "table" and (name in POSTGIS_OWN or MONTHS.match(name or "")))
                ),
                "include_object": lambda item, name, kind, *__: (
                    not (
                        (kind == "index" and name in ON_EXPRESSIONS)
                        # a key into a partitioned table is kept by PostgreSQL as one into each partition too
                        or (kind == "foreign_key_constraint" and MONTHS.match(item.referred_table.name))
                    )
                ),
            },
        )
        return list(compare_metadata(context, metadata))


def test_declared_tables_match_the_migrated_database(engine: Engine) -> None:
    assert _differences(engine) == []


def test_the_active_area_view_has_the_area_columns(engine: Engine) -> None:
    columns = [c["name"] for c in inspect(engine).get_columns("active_area")]
    assert columns == [c.name for c in area.columns] == [c.name for c in active_area.columns]


def test_the_indexes_on_expressions_are_as_declared(engine: Engine) -> None:
    with engine.connect() as conn:
        found = dict(
            conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(:names)"),
                {"names": sorted(ON_EXPRESSIONS)},
            ).all()
        )
    assert set(found) == ON_EXPRESSIONS
    place = "(COALESCE(grid_code, community_code, street_code, district_code) text_pattern_ops)"
    assert place in found["ix_case_place"]
    assert found["ix_case_unrolled_place"].endswith(f"{place} WHERE (NOT rolled)")
    assert "((closed_at IS NOT NULL)), COALESCE(deadline, 'infinity'" in found["ix_case_list_order"]
    assert found["ix_case_list_order"].endswith(", id)")
