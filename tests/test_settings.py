"""Settings refuse unsafe or inconsistent values."""

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from streams.settings import KafkaSettings


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="GRIDGOV_SECRET_KEY"):
        ApiSettings(env="production")
    ApiSettings(env="production", secret_key="x" * 40)


def test_heartbeat_must_fit_the_session_timeout() -> None:
    with pytest.raises(ValidationError, match="HEARTBEAT"):
        KafkaSettings(kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=2000)


def test_local_mode_when_no_servers_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDGOV_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert KafkaSettings(local_broker_port=1234).bootstrap_servers == "127.0.0.1:1234"
    external = KafkaSettings(kafka_bootstrap_servers="kafka:9092")
    assert not external.is_local
    assert external.bootstrap_servers == "kafka:9092"
