"""docker-compose.yml stays consistent with the code (no Docker engine here to run it)."""

from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

from api.settings import Settings
from cli.main import app

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _setting_env_names() -> set[str]:
    names: set[str] = set()
    for concern in Settings().__dict__.values():
        names |= {f"GRIDGOV_{field.upper()}" for field in type(concern).model_fields}
    return names


def test_services_and_healthchecks() -> None:
    services = _compose()["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "postgis", "migrate", "api", "worker", "sla", "prometheus"} <= set(
        services
    )
    for name in ("kafka-1", "kafka-2", "kafka-3", "postgis", "postgis-standby", "api"):
        assert services[name]["healthcheck"]["test"], f"{name} needs a healthcheck"
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            assert condition["condition"] == expected, f"{name} -> {dependency}"


def test_environment_names_are_settings() -> None:
    known = _setting_env_names()
    for name, service in _compose()["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("GRIDGOV_"):
                assert key in known, f"{name}: {key} is not a setting"


def test_commands_exist_in_the_cli() -> None:
    cli = get_command(app)
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if not command:
            continue
        line = " ".join(command)
        for part in line.split("&&"):
            words = part.replace("sh -c", "").split()
            if words and words[0] == "gridgov":
                assert words[1] in cli.commands, f"{name}: `{part.strip()}` is not a gridgov command"  # type: ignore[attr-defined]
                if len(words) > 2 and not words[2].startswith("-"):
                    group = cli.commands[words[1]]  # type: ignore[attr-defined]
                    assert words[2] in group.commands, f"{name}: `{part.strip()}`"


def test_production_secret_is_required() -> None:
    env = _compose()["x-gridgov-env"]
    assert env["GRIDGOV_ENV"] == "production"
    assert ":?" in env["GRIDGOV_SECRET_KEY"], "compose must refuse to start without a secret"


def test_three_kraft_brokers_replicate_every_topic_three_times_with_two_in_sync() -> None:
    """A 202 is held by the log only if it survives a broker: 3 replicas, min.insync.replicas 2, acks=all."""
    services = _compose()["services"]
    brokers = [services[f"kafka-{n}"]["environment"] for n in (1, 2, 3)]
    voters = {b["KAFKA_CONTROLLER_QUORUM_VOTERS"] for b in brokers}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert sorted(b["KAFKA_NODE_ID"] for b in brokers) == ["1", "2", "3"]
    assert len({b["CLUSTER_ID"] for b in brokers}) == 1
    for env in brokers:
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"  # the platform's topics take the broker default
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"  # the consumer groups' offsets
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    gridgov = services["api"]["environment"]
    assert gridgov["GRIDGOV_TOPIC_REPLICATION_FACTOR"] == "3"
    assert gridgov["GRIDGOV_KAFKA_REPLICATED"] == "true"
    assert sorted(gridgov["GRIDGOV_KAFKA_BOOTSTRAP_SERVERS"].split(",")) == [f"kafka-{n}:9092" for n in (1, 2, 3)]


def test_prometheus_scrapes_the_api_metrics() -> None:
    compose = _compose()
    scrape = yaml.safe_load(compose["configs"]["prometheus"]["content"])["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["static_configs"][0]["targets"] == ["api:8000"]
    assert compose["services"]["prometheus"]["configs"][0]["source"] == "prometheus"


def test_the_read_routes_read_from_a_standby_made_from_the_primary() -> None:
    compose = _compose()
    services = compose["services"]
    standby = services["postgis-standby"]
    assert standby["image"] == services["postgis"]["image"]
    script = standby["command"][-1]
    assert "pg_basebackup -h postgis -U gridgov" in script and " -R " in script  # a standby of postgis
    assert "hot_standby=on" in script
    assert "postgis-standby:5432/gridgov" in compose["x-gridgov-env"]["GRIDGOV_DATABASE_READ_URL"]
    replication = compose["configs"]["replication"]["content"]
    assert "host replication gridgov" in replication
    assert '"$$PGDATA/pg_hba.conf"' in replication  # $$: compose leaves the shell its $PGDATA
    mounted = services["postgis"]["configs"][0]
    assert mounted["source"] == "replication" and mounted["target"].startswith("/docker-entrypoint-")
