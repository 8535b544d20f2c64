"""Settings refuse unsafe or inconsistent values."""

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from db.settings import DatabaseSettings
from registers.settings import RegisterSettings
from streams.settings import KafkaSettings


@pytest.mark.parametrize("env", ["production", "test"])
def test_outside_development_the_default_or_a_short_secret_is_refused(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDGOV_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="GRIDGOV_SECRET_KEY"):
        ApiSettings(env=env)
    with pytest.raises(ValidationError, match="GRIDGOV_SECRET_KEY"):
        ApiSettings(env=env, secret_key="short")
    ApiSettings(env=env, secret_key="x" * 40)
    ApiSettings(env="development")


def test_heartbeat_must_fit_the_session_timeout() -> None:
    with pytest.raises(ValidationError, match="HEARTBEAT"):
        KafkaSettings(kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=2000)


def test_local_mode_when_no_servers_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDGOV_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert KafkaSettings(local_broker_port=1234).bootstrap_servers == "127.0.0.1:1234"
    external = KafkaSettings(kafka_bootstrap_servers="kafka:9092")
    assert not external.is_local
    assert external.bootstrap_servers == "kafka:9092"


def test_tls_to_postgresql_is_added_to_the_url() -> None:
    url = DatabaseSettings(
        database_url="postgresql+psycopg://u:secret@db:5432/gridgov", db_sslmode="verify-full", db_sslrootcert="/ca.pem"
    ).url
    assert url.startswith("postgresql+psycopg://u:secret@db:5432/gridgov?")
    assert "sslmode=verify-full" in url and "sslrootcert=%2Fca.pem" in url
    assert DatabaseSettings(database_url="postgresql+psycopg://u@db/g").url == "postgresql+psycopg://u@db/g"


def test_the_api_refuses_to_start_outside_development_without_a_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRIDGOV_SECRET_KEY"} | {"GRIDGOV_ENV": "production"}
    env |= {"GRIDGOV_LANG": "en"}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "api", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "configuration error" in result.stdout and "GRIDGOV_SECRET_KEY" in result.stdout


@pytest.mark.parametrize("env", ["production", "test"])
def test_outside_development_personal_data_needs_a_key_of_its_own(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDGOV_PII_KEY", raising=False)
    with pytest.raises(ValidationError, match="GRIDGOV_PII_KEY must be set"):
        RegisterSettings(env=env)
    with pytest.raises(ValidationError, match="64 hex digits"):
        RegisterSettings(env=env, pii_key="not-hex")
    RegisterSettings(env=env, pii_key="ab" * 32)
    RegisterSettings(env="development")


def test_the_api_refuses_to_start_outside_development_without_a_pii_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRIDGOV_PII_KEY"} | {"GRIDGOV_ENV": "production"}
    env |= {"GRIDGOV_LANG": "en"}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "api", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "configuration error" in result.stdout and "GRIDGOV_PII_KEY" in result.stdout
