"""The one place kafka-python clients are configured."""

import selectors
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from streams.settings import KafkaSettings


class QuietSelector(selectors.DefaultSelector):
    """The platform's default selector, answering "not registered" without describing the socket.

    kafka-python's network thread asks for a socket's key before every wait and takes the
    ``KeyError`` as "register it"; the standard selectors word that error with ``repr(socket)``,
    two system calls and a format each time (about a quarter of the producer thread's time under
    single posts, bench/pipeline.py).
    """

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        """The key of ``fileobj``; ``KeyError`` when it is not registered."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        mapping = self.get_map()
        if fd < 0 or mapping is None:  # a closed socket (found by identity) or a closed selector: as ever
            return super().get_key(fileobj)
        key = mapping.get(fd)
        if key is None:
            raise KeyError(fileobj)
        return key


def connection_config(settings: KafkaSettings, client_id: str) -> dict[str, Any]:
    """Connection and security options shared by every client."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "client_id": client_id,
        "security_protocol": settings.kafka_security_protocol,
        "selector": QuietSelector,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = settings.kafka_sasl_password
    if settings.kafka_ssl_cafile:
        config["ssl_cafile"] = settings.kafka_ssl_cafile
    return config


def admin_client(settings: KafkaSettings, **overrides: Any) -> KafkaAdminClient:
    """An admin client, for creating topics."""
    return KafkaAdminClient(**(connection_config(settings, "gridgov-admin") | overrides))


def producer(settings: KafkaSettings, client_id: str = "gridgov", **overrides: Any) -> KafkaProducer:
    """A producer that waits for all in-sync replicas and never auto-creates topics."""
    config = connection_config(settings, client_id) | {
        "acks": "all",
        "allow_auto_create_topics": False,
        "linger_ms": 5,
        "retries": 5,
    }
    return KafkaProducer(**(config | overrides))


def consumer(
    settings: KafkaSettings, group_id: str, *topics: str, client_id: str = "gridgov", **overrides: Any
) -> KafkaConsumer:
    """A group consumer that commits explicitly and never auto-creates topics."""
    config = connection_config(settings, client_id) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "allow_auto_create_topics": False,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "max_poll_interval_ms": settings.kafka_max_poll_interval_ms,
    }
    return KafkaConsumer(*topics, **(config | overrides))


def broker_status(settings: KafkaSettings, timeout_ms: int = 3000) -> tuple[bool, str]:
    """Whether the broker answers a metadata request, and what it said."""
    try:
        admin = admin_client(settings, request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
    except KafkaError as exc:
        return False, type(exc).__name__
    try:
        topics = admin.list_topics()
        return True, f"{len(topics)} topics"
    except KafkaError as exc:
        return False, type(exc).__name__
    finally:
        admin.close()
