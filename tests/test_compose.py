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
    assert {"kafka", "postgis", "migrate", "api", "worker", "sla"} <= set(services)
    for name in ("kafka", "postgis", "api"):
        assert services[name]["healthcheck"]["test"], f"{name} needs a healthcheck"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
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
