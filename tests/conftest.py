"""Fixtures on the real services; a skipped service test fails the run when services are required."""

import dataclasses
import os
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text

from api.access import Principal, Role, check_scope
from api.auth import issue_token
from api.settings import Settings
from cli.local import broker, postgres
from cli.local.scratch import drop_database, fresh_database, fresh_topics
from db.engine import make_engine, upgrade
from streams.settings import KafkaSettings

REQUIRE_SERVICES = os.environ.get("GRIDGOV_REQUIRE_SERVICES") == "1" or bool(os.environ.get("CI"))


def _unavailable(what: str) -> None:
    message = f"{what} is not running; start it with `gridgov services up` (make test does)"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    service_fixtures = {
        "database_url",
        "engine",
        "kafka_settings",
        "settings",
        "demo_city",
        "scratch_engine",
        "client",
        "sign_in",
    }
    for item in items:
        if service_fixtures & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not REQUIRE_SERVICES or reporter is None:
        return
    skipped = [r for r in reporter.stats.get("skipped", []) if "services" in r.keywords]
    if skipped:
        reporter.write_line(f"FAILED: {len(skipped)} service test(s) skipped while services are required")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def database_url(base_settings: Settings) -> Iterator[str]:
    """A fresh, migrated database for this run (on the local cluster), or the configured one."""
    if not postgres.status(base_settings).healthy:
        _unavailable("PostgreSQL")
    if not base_settings.database.is_local:
        upgrade(base_settings.database.url)
        yield base_settings.database.url
        return
    fresh = fresh_database(base_settings, "gridgov_test")
    yield fresh.database.url
    drop_database(fresh)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def kafka_settings(base_settings: Settings) -> KafkaSettings:
    """Broker settings with topics under a prefix of their own, created for this run."""
    if not broker.status(base_settings).healthy:
        _unavailable("The Kafka-protocol broker")
    return fresh_topics(base_settings, "t").kafka


@pytest.fixture(scope="session")
def settings(base_settings: Settings, database_url: str, kafka_settings: KafkaSettings) -> Settings:
    """Settings pointing at this run's fresh database and topics; no posting rate limit (its own test has one)."""
    database = base_settings.database.model_copy(update={"database_url": database_url})
    api = base_settings.api.model_copy(update={"event_posts_per_minute": 0.0, "user_cache_s": 0.0})
    return dataclasses.replace(base_settings, api=api, database=database, kafka=kafka_settings)


SignIn = Callable[[str, Role, str], dict[str, str]]
TEST_PASSWORD = "test-password"


@pytest.fixture(scope="session")
def sign_in(settings: Settings, engine: Engine) -> SignIn:
    """``sign_in(username, role, scope)``: the user exists (password ``TEST_PASSWORD``) and this is its header."""
    digest = PasswordHasher().hash(TEST_PASSWORD)

    def headers(username: str, role: Role, scope: str = "") -> dict[str, str]:
        scope = check_scope(role, scope)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO app_user (username, password_hash, role, scope) VALUES (:u, :h, :r, :s)"
                    " ON CONFLICT (username) DO UPDATE SET role = :r, scope = :s, disabled = false"
                ),
                {"u": username, "h": digest, "r": role.value, "s": scope},
            )
        token = issue_token(settings.api.secret_key, Principal(username, role, scope), timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture(scope="session")
def demo_city(engine: Engine) -> Engine:
    """The test database with the demo city loaded."""
    from geo.demo import load_demo

    load_demo(engine)
    return engine


@pytest.fixture
def scratch_settings(base_settings: Settings, database_url: str) -> Iterator[Settings]:
    """Settings of a database of its own for one test (hand-made boundary sets), dropped afterwards."""
    if not base_settings.database.is_local:
        pytest.skip("scratch databases need the local cluster")
    fresh = fresh_database(base_settings, "gridgov_scratch")
    yield fresh
    drop_database(fresh)


@pytest.fixture
def scratch_engine(scratch_settings: Settings) -> Iterator[Engine]:
    """An engine on the test's own database (``scratch_settings``)."""
    engine = make_engine(scratch_settings.database.url)
    yield engine
    engine.dispose()
