"""Kafka settings."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where the broker is, how topics are laid out, and how clients behave.

    The consumer timeouts default to values that suit Tansu (a group join waits
    about half of the session timeout); against Apache Kafka larger values are fine.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    kafka_bootstrap_servers: str | None = None
    local_broker_port: int = 59092
    topic_prefix: str = "gridgov."
    topic_partitions: int = 6
    topic_replication_factor: int = 1
    kafka_session_timeout_ms: int = 4000
    kafka_heartbeat_interval_ms: int = 1000
    kafka_max_poll_interval_ms: int = 10000
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "KafkaSettings":
        if self.topic_partitions < 1:
            raise ValueError("GRIDGOV_TOPIC_PARTITIONS must be at least 1")
        if self.kafka_heartbeat_interval_ms * 3 > self.kafka_session_timeout_ms:
            raise ValueError(
                "GRIDGOV_KAFKA_HEARTBEAT_INTERVAL_MS must be at most a third of GRIDGOV_KAFKA_SESSION_TIMEOUT_MS"
            )
        if self.kafka_sasl_mechanism and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("SASL needs GRIDGOV_KAFKA_SASL_USERNAME and _PASSWORD")
        return self

    @property
    def is_local(self) -> bool:
        """Whether the project runs its own broker (no servers given)."""
        return self.kafka_bootstrap_servers is None

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated host:port list of the broker(s) to use."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.local_broker_port}"


class PipelineSettings(BaseSettings):
    """What an accepted event is held by, and when the pipeline counts as stalled.

    ``kafka_replicated`` says the broker keeps what it acknowledged through the crash of
    any one broker (Apache Kafka with replication factor 3, ``min.insync.replicas`` 2,
    acks=all). Without it (the local in-memory broker), a 202 also needs the receipt
    committed synchronously in PostgreSQL, and the API answers 503 while it cannot be.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    kafka_replicated: bool = False
    reconcile_after_s: float = Field(default=30.0, gt=0)
    reconcile_every_s: float = Field(default=5.0, gt=0)
    pipeline_degraded_after_s: float = Field(default=30.0, gt=0)
    pipeline_failing_after_s: float = Field(default=120.0, gt=0)
    worker_rejoin_after_s: float = Field(default=12.0, gt=0)  # a normal join takes ~9 s here: a stuck one ends by ~13 s

    @model_validator(mode="after")
    def _check(self) -> "PipelineSettings":
        if self.pipeline_failing_after_s <= self.pipeline_degraded_after_s:
            raise ValueError("GRIDGOV_PIPELINE_FAILING_AFTER_S must be larger than GRIDGOV_PIPELINE_DEGRADED_AFTER_S")
        return self
