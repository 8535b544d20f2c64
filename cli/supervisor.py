"""``gridgov run``: the whole platform with the demo city, its processes supervised until Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import typer
from rich.console import Console

from api.settings import Settings
from cli.demo import DEMO_PASSWORD, add_demo_registers, add_demo_users
from cli.local import broker, postgres
from cli.local.process import pid_alive, stop_pid
from cli.services import print_statuses, services_up, upgrade_database
from cli.wording import tell
from db import engine as db
from geo.demo import DEMO_DISTRICT, load_demo
from registers.components import load_demo_components

DEMO_RULES = Path(__file__).resolve().parents[1] / "cases" / "data" / "sla_rules_demo.yaml"
console = Console()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def _child(args: list[str], settings: Settings, name: str) -> subprocess.Popen[bytes]:
    """Start ``gridgov ARGS``; it gets SIGTERM if this process dies, even by -9."""
    log = open(settings.local.state_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept for the child's life

    def die_with_parent() -> None:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
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
    targets = [(pids.get("supervisor", 0), "gridgov")] + [(pid, "cli.main") for pid in pids.get("children", [])]
    for pid, hint in targets:
        if pid and pid != os.getpid() and pid_alive(pid, hint):
            stop_pid(pid, timeout=30)
    run_file.unlink(missing_ok=True)


def run_steps() -> list[list[str]]:
    """The long-running processes of the platform, as ``gridgov`` arguments."""
    return [["api"], ["worker"], ["sla"], ["simulate", "--gridworkers", "100", "--rate", "3"]]


def run() -> None:
    """Bring up the whole platform with the demo city; Ctrl-C stops everything it started."""
    settings = Settings()
    settings.local.state_dir.mkdir(parents=True, exist_ok=True)
    _stop_previous_run(settings)
    stop = stop_on_signals()
    children: list[subprocess.Popen[bytes]] = []
    try:
        console.print(tell("cli.starting"), highlight=False)
        print_statuses(services_up(settings))
        upgrade_database(settings)
        # The demo runs the same engine on minute-long deadlines so escalations show within minutes.
        os.environ.setdefault("GRIDGOV_SLA_RULES_FILE", str(DEMO_RULES))
        for step in prepare_steps():
            step(Settings())
        children = [_child(args, settings, args[0]) for args in run_steps()]
        (settings.local.state_dir / "run.json").write_text(
            json.dumps({"supervisor": os.getpid(), "children": [c.pid for c in children]})
        )
        base = f"http://{settings.api.api_host}:{settings.api.api_port}"
        while not stop.is_set() and not _healthy(base):
            _check_children(children)
            stop.wait(0.2)
        if not stop.is_set():
            ready = tell("cli.ready", base=base, password=DEMO_PASSWORD, logs=f"{settings.local.state_dir}/*.log")
            console.print(ready, highlight=False, markup=False)
        while not stop.is_set():
            _check_children(children)
            stop.wait(0.5)
    finally:
        console.print(tell("cli.stopping"), highlight=False)
        for child in children:
            stop_pid(child.pid)
        broker.down(settings)
        postgres.down(settings)
        (settings.local.state_dir / "run.json").unlink(missing_ok=True)
        console.print(tell("cli.all_stopped"), highlight=False)


def prepare_steps() -> list[Callable[[Settings], None]]:
    """One-off set-up after migrations."""
    return [_load_demo]


def _load_demo(settings: Settings) -> None:
    engine = db.make_engine(settings.database.url)
    try:
        units = list(settings.rules().departments.values())
        console.print(tell("cli.demo_city", grids=load_demo(engine), users=add_demo_users(engine, units)))
        today = datetime.now(settings.rules().calendar.tz).date()
        console.print(tell("cli.demo_registers", n=add_demo_registers(engine, settings, today)), highlight=False)
        with engine.begin() as conn:
            console.print(tell("cli.demo_components", n=load_demo_components(conn, DEMO_DISTRICT)), highlight=False)
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
