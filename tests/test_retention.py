"""The personal-data access log keeps rows GRIDGOV_ACCESS_LOG_DAYS (default three years); then the clock drops them."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, text

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
