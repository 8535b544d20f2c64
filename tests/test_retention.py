"""The personal-data access log keeps rows GRIDGOV_ACCESS_LOG_DAYS (default three years), by month; then the clock
drops them, a month at a time."""

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import Engine, text

from api.settings import Settings
from db.engine import alembic_config, upgrade
from db.partitions import keep_ahead, make_months, months, partitions
from registers.settings import RegisterSettings
from streams.sla import SlaEngine, prune_access_log


def test_rows_older_than_the_retention_go_and_younger_ones_stay(demo_city: Engine) -> None:
    keep = timedelta(days=RegisterSettings().access_log_days)
    assert keep == timedelta(days=1095)
    now = datetime.now(UTC)
    with demo_city.begin() as conn:
        for actor, age in (("retention-old", keep + timedelta(days=1)), ("retention-old", keep + timedelta(days=400)),
                           ("retention-kept", keep - timedelta(days=1))):  # fmt: skip
            conn.execute(
                text(
                    "INSERT INTO pii_access (at, actor, role, action, purpose)"
                    " VALUES (:at, :a, 'gridworker', 'read', '走访')"
                ),
                {"at": now - age, "a": actor},
            )
    assert prune_access_log(demo_city, now - keep) == 2
    with demo_city.connect() as conn:
        left = conn.execute(text("SELECT actor FROM pii_access WHERE actor LIKE 'retention-%'")).scalars().all()
    assert left == ["retention-kept"]
    assert prune_access_log(demo_city, now - keep) == 0
    assert SlaEngine.__dataclass_fields__["access_log_keep"].default == keep  # the clock's default is the same


def test_a_retention_under_a_month_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 30"):
        RegisterSettings(access_log_days=7)


def test_whole_months_are_dropped_and_a_month_made_late_takes_its_rows_from_the_default(
    scratch_engine: Engine,
) -> None:
    """Months (UTC) of 2020: January–March made, April's rows first in the default partition.

    Cut-off 1 March 2020 00:00: January and February ended by then and go whole (3 + 2 rows); March
    stays (its row of 1 March 00:00 is not older); April's rows, moved into the month made for them, stay;
    the default's row of 15 December 2019 is older than the cut-off and goes: 6 rows in all.
    """
    rows = [
        (datetime(2019, 12, 15, tzinfo=UTC), "default-old"),
        *((datetime(2020, 1, d, tzinfo=UTC), "jan") for d in (1, 15, 31)),
        *((datetime(2020, 2, d, tzinfo=UTC), "feb") for d in (1, 29)),
        (datetime(2020, 3, 1, tzinfo=UTC), "mar"),
        (datetime(2020, 4, 2, tzinfo=UTC), "apr"),
        (datetime(2020, 4, 30, 23, 59, tzinfo=UTC), "apr"),
    ]
    with scratch_engine.begin() as conn:
        assert make_months(conn, "pii_access", months(date(2020, 1, 1), date(2020, 3, 1))) == 3
        for at, actor in rows:
            conn.execute(
                text(
                    "INSERT INTO pii_access (at, actor, role, action, purpose) VALUES (:at, :a, 'admin', 'read', 'x')"
                ),
                {"at": at, "a": actor},
            )
        in_default = conn.execute(text("SELECT count(*) FROM pii_access_default")).scalar_one()
        assert in_default == 3  # December 2019 and April 2020: no month of theirs yet
        assert make_months(conn, "pii_access", [date(2020, 4, 1)]) == 1
        assert conn.execute(text("SELECT count(*) FROM pii_access_y2020m04")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM pii_access_default")).scalar_one() == 1
    assert prune_access_log(scratch_engine, datetime(2020, 3, 1, tzinfo=UTC)) == 6
    with scratch_engine.connect() as conn:
        left = sorted(conn.execute(text("SELECT actor FROM pii_access WHERE at < '2021-01-01'")).scalars())
        months_left = sorted(partitions(conn, "pii_access"))
    assert left == ["apr", "apr", "mar"]
    assert date(2020, 1, 1) not in months_left and date(2020, 2, 1) not in months_left
    assert {date(2020, 3, 1), date(2020, 4, 1)} <= set(months_left)


def test_the_clock_makes_the_months_ahead(scratch_engine: Engine) -> None:
    now = datetime(2031, 11, 20, tzinfo=UTC)
    assert keep_ahead(scratch_engine, now) == 15  # October 2031 to February 2032, of the log, history and events
    assert keep_ahead(scratch_engine, now) == 0
    for table in ("pii_access", "case_transition", "event"):
        with scratch_engine.connect() as conn:
            made = set(partitions(conn, table))
        assert {date(2031, 10, 1), date(2031, 11, 1), date(2031, 12, 1), date(2032, 1, 1), date(2032, 2, 1)} <= made


def test_the_log_is_made_partitioned_in_place_with_its_rows(scratch_settings: Settings, scratch_engine: Engine) -> None:
    url = scratch_settings.database.url
    command.downgrade(alembic_config(url), "0028")
    with scratch_engine.begin() as conn:
        for at in (datetime(2025, 6, 3, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC), datetime.now(UTC)):
            conn.execute(
                text(
                    "INSERT INTO pii_access (at, actor, role, action, purpose) VALUES (:at, 'm', 'admin', 'read', 'x')"
                ),
                {"at": at},
            )
        before = conn.execute(text("SELECT id, at FROM pii_access ORDER BY id")).all()
    upgrade(url, "head")
    with scratch_engine.begin() as conn:
        after = conn.execute(text("SELECT id, at FROM pii_access ORDER BY id")).all()
        made = partitions(conn, "pii_access")
        new_id = conn.execute(
            text(
                "INSERT INTO pii_access (actor, role, action, purpose) VALUES ('m', 'admin', 'read', 'x') RETURNING id"
            )
        ).scalar_one()
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'pii_access'")).scalar_one()
    assert after == before and kind == "p"  # the same rows, in a partitioned table
    assert min(made) == date(2025, 6, 1) and len(made) >= 19  # June 2025 to three months ahead of now
    assert new_id == max(i for i, _ in before) + 1  # ids go on from the last
