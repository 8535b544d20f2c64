"""The ``gridgov`` command line."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from api import boundaries_cli, users_cli
from api.demo import DEMO_PASSWORD, add_demo_users
from api.local import broker, postgres
from api.local.process import pid_alive, stop_pid
from api.local.service import ServiceError, ServiceStatus
from api.settings import Settings
from geo import db
from geo.demo import load_demo
from streams.kafka import admin_client
from streams.topics import ensure_topics

DEMO_RULES = Path(__file__).resolve().parents[1] / "streams" / "data" / "sla_rules_demo.yaml"
app = typer.Typer(help="gridgov: urban grid governance platform.", no_args_is_help=True)
services_app = typer.Typer(help="Local PostgreSQL/PostGIS and Kafka-protocol broker.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
app.add_typer(boundaries_cli.app, name="boundaries")
app.add_typer(users_cli.app, name="users")
app.add_typer(users_cli.open311_app, name="open311")
console = Console()


def _print_statuses(statuses: list[ServiceStatus]) -> None:
    table = Table("service", "address", "health", "managed by gridgov", "detail")
    for s in statuses:
        table.add_row(
            s.name,
            s.address,
            "[green]up[/]" if s.healthy else "[red]down[/]",
            "yes" if s.managed else "no (external)",
            s.detail,
        )
    console.print(table)


def services_up(settings: Settings) -> list[ServiceStatus]:
    """Start (or check) both services and create the topics."""
    try:
        statuses = [postgres.up(settings), broker.up(settings)]
    except ServiceError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    if all(s.healthy for s in statuses):
        create_topics(settings)
    return statuses


def create_topics(settings: Settings) -> list[str]:
    """Create the platform's topics that are missing."""
    admin = admin_client(settings.kafka)
    try:
        return ensure_topics(admin, settings.kafka)
    finally:
        admin.close()


@services_app.command("up")
def services_up_command() -> None:
    """Start the local services (idempotent); with external URLs set, only check them."""
    statuses = services_up(Settings())
    _print_statuses(statuses)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@services_app.command("down")
def services_down_command() -> None:
    """Stop the local services the project started; external ones are left alone."""
    settings = Settings()
    stopped = [name for name, did in (("broker", broker.down(settings)), ("postgres", postgres.down(settings))) if did]
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@services_app.command("status")
def services_status_command() -> None:
    """Print each service, its address and health."""
    settings = Settings()
    statuses = [postgres.status(settings), broker.status(settings)]
    _print_statuses(statuses)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to ``revision``."""
    db.upgrade(Settings().database.url, revision)
    console.print(f"database at {revision}")


@topics_app.command("create")
def topics_create() -> None:
    """Create the platform's topics with the configured partitions."""
    created = create_topics(Settings())
    console.print(f"created: {', '.join(created) or 'none, all exist'}")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default GRIDGOV_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GRIDGOV_API_PORT)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes serving the same port (each with its own pool)")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    settings = Settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        workers=workers,
        host=host or settings.api.api_host,
        port=port or settings.api.api_port,
        log_level="info",
    )


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


@app.command()
def worker(
    batch_size: Annotated[int, typer.Option(help="Records per batch")] = 2000,
) -> None:
    """Record raw events: decode, locate, write to PostGIS, produce located events (SIGTERM finishes the batch)."""
    from geo.locator import Locator
    from streams.worker import Worker, collect_rarely

    _log_to_stderr()
    collect_rarely()
    settings = Settings()
    stop = _stop_on_signals()
    engine = db.make_engine(settings.database.url)
    locator = Locator(engine, settings.locate.locate_tolerance_m, settings.locate.locate_refresh_s)
    totals = Worker(settings.kafka, engine, locator, batch_size=batch_size).run(stop)
    engine.dispose()
    console.print(f"worker stopped: {totals}")


@app.command()
def sla() -> None:
    """Run the SLA clock: deadlines, escalations, patrol flags, and the transitions outbox."""
    from streams.producer import EventProducer
    from streams.sla import Outbox, SlaEngine

    _log_to_stderr()
    settings = Settings()
    stop = _stop_on_signals()
    engine = db.make_engine(settings.database.url)
    producer = EventProducer(settings.kafka, client_id="gridgov-sla", timeout_s=30)
    sla_engine = SlaEngine(engine, settings.rules(), Outbox(engine, settings.kafka, producer))
    sla_engine.run(stop, settings.sla.sla_tick_s)
    producer.close()
    engine.dispose()


@app.command()
def simulate(
    gridworkers: Annotated[int, typer.Option(help="Simulated gridworkers, one grid each")] = 50,
    rate: Annotated[float, typer.Option(help="Events per second in all")] = 2.0,
    api_url: Annotated[str | None, typer.Option(help="Default: the local API")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many events")] = None,
    password: Annotated[str, typer.Option(help="Password of the gridworkers gw-<grid>")] = DEMO_PASSWORD,
) -> None:
    """Simulated gridworkers posting patrols, incidents and visits through the HTTP API."""
    from api.simulate import run as run_simulator

    _log_to_stderr()
    settings = Settings()
    base = api_url or f"http://{settings.api.api_host}:{settings.api.api_port}"
    stop = _stop_on_signals()
    while not stop.is_set():  # wait for the API when started beside it
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        stop.wait(0.5)
    stats = run_simulator(base, gridworkers, rate, stop, password, limit=limit)
    console.print(f"simulator stopped: {stats}")


def _child(args: list[str], settings: Settings, name: str) -> subprocess.Popen[bytes]:
    """Start ``gridgov ARGS``; it gets SIGTERM if this process dies, even by -9."""
    log = open(settings.local.state_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept for the child's life

    def die_with_parent() -> None:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )


def _stop_previous_run(settings: Settings) -> None:
    """Stop what a previous ``run`` left behind (one killed with -9 cannot clean up)."""
    run_file = settings.local.state_dir / "run.json"
    if not run_file.exists():
        return
    try:
        pids = json.loads(run_file.read_text())
    except ValueError:
        pids = {}
    # The supervisor first (it stops its children and services), then any child it left.
    targets = [(pids.get("supervisor", 0), "gridgov")] + [(pid, "api.cli") for pid in pids.get("children", [])]
    for pid, hint in targets:
        if pid and pid != os.getpid() and pid_alive(pid, hint):
            stop_pid(pid, timeout=30)
    run_file.unlink(missing_ok=True)


def run_steps() -> list[list[str]]:
    """The long-running processes of the platform, as ``gridgov`` arguments."""
    return [["api"], ["worker"], ["sla"], ["simulate", "--gridworkers", "100", "--rate", "3"]]


@app.command()
def run() -> None:
    """Bring up the whole platform with the demo city; Ctrl-C stops everything it started."""
    settings = Settings()
    settings.local.state_dir.mkdir(parents=True, exist_ok=True)
    _stop_previous_run(settings)
    stop = _stop_on_signals()
    children: list[subprocess.Popen[bytes]] = []
    try:
        console.print("starting services…")
        _print_statuses(services_up(settings))
        db.upgrade(settings.database.url)
        for step in prepare_steps():
            step(settings)
        # The demo runs the same engine on minute-long deadlines so escalations show within minutes.
        os.environ.setdefault("GRIDGOV_SLA_RULES_FILE", str(DEMO_RULES))
        children = [_child(args, settings, args[0]) for args in run_steps()]
        (settings.local.state_dir / "run.json").write_text(
            json.dumps({"supervisor": os.getpid(), "children": [c.pid for c in children]})
        )
        base = f"http://{settings.api.api_host}:{settings.api.api_port}"
        while not stop.is_set() and not _healthy(base):
            _check_children(children)
            stop.wait(0.2)
        if not stop.is_set():
            console.print(
                f"[bold green]ready[/]\n  live map: {base}/map\n  API docs: {base}/docs\n"
                f"  sign in:  commander, district, street, community, department, admin or gw-<grid code>,"
                f" password {DEMO_PASSWORD}\n"
                f"  token:    curl -d 'username=district&password={DEMO_PASSWORD}' {base}/v1/token\n"
                f"  logs:     {settings.local.state_dir}/*.log\nPress Ctrl-C to stop."
            )
        while not stop.is_set():
            _check_children(children)
            stop.wait(0.5)
    finally:
        console.print("stopping…")
        for child in children:
            stop_pid(child.pid)
        broker.down(settings)
        postgres.down(settings)
        (settings.local.state_dir / "run.json").unlink(missing_ok=True)
        console.print("stopped")


def prepare_steps() -> list[Callable[[Settings], None]]:
    """One-off set-up after migrations."""
    return [_load_demo]


def _load_demo(settings: Settings) -> None:
    engine = db.make_engine(settings.database.url)
    try:
        console.print(f"demo city: {load_demo(engine)} grids, {add_demo_users(engine)} new demo users")
    finally:
        engine.dispose()


def _check_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is not None:
            raise typer.Exit(f"{child.args!r} exited with {child.returncode}; see its log")  # type: ignore[arg-type]


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    """The ``gridgov`` entry point: a bad setting is one clear line, not a traceback."""
    try:
        app()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        console.print(f"[red]configuration error:[/] {problems}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
