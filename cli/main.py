"""The ``gridgov`` command line: its sub-commands, and the long-running processes it starts."""

import logging
import os
import shutil
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console

from api.settings import Settings
from cases.calendar import WorkCalendar
from cli import boundaries, open311, registers, report, rules, services, supervisor, users
from cli.demo import DEMO_PASSWORD
from cli.local.service import ServiceError
from cli.supervisor import stop_on_signals
from cli.wording import shout, tell
from db import engine as db

app = typer.Typer(help="gridgov: urban grid governance platform.", no_args_is_help=True)
app.add_typer(services.app, name="services")
app.add_typer(services.db_app, name="db")
app.add_typer(services.topics_app, name="topics")
app.add_typer(boundaries.app, name="boundaries")
app.add_typer(users.app, name="users")
app.add_typer(open311.app, name="open311")
app.add_typer(rules.app, name="rules")
app.add_typer(registers.app, name="registers")
app.add_typer(report.app, name="report")
app.command()(supervisor.run)
console = Console()
log = logging.getLogger("gridgov")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default GRIDGOV_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GRIDGOV_API_PORT)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes serving the same port (each with its own pool)")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn.

    With several processes, their metrics meet in a directory of their own (emptied at
    start) so that ``/metrics`` from any of them counts all of them.
    """
    import uvicorn

    settings = Settings()
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shared = settings.local.state_dir / f"metrics-{port or settings.api.api_port}"
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)  # read by prometheus-client in each process
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        workers=workers,
        host=host or settings.api.api_host,
        port=port or settings.api.api_port,
        log_level="info",
        timeout_graceful_shutdown=5,  # live feeds are cut then (their clients reconnect): a restart never hangs
    )


def report_calendar(calendar: WorkCalendar) -> None:
    """Log at start-up how far the official holiday schedule reaches (a warning when next year's is missing)."""
    coverage = calendar.coverage(datetime.now(calendar.tz).date())
    log.info("calendar: official holiday schedule through %s", coverage["official_through"])
    if coverage["warning"]:
        log.warning("calendar: %s", coverage["warning"])


def _log_to_stderr() -> None:
    """Our processes' news at INFO; the Kafka and HTTP clients' chatter only when it is a warning."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("kafka", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@app.command()
def worker(
    batch_size: Annotated[int, typer.Option(help="Records per batch")] = 2000,
) -> None:
    """Record raw events: decode, locate, write to PostGIS, produce located events (SIGTERM finishes the batch)."""
    from geo.locator import Locator
    from streams.reconcile import Reconciler
    from streams.worker import collect_rarely, open_worker

    _log_to_stderr()
    collect_rarely()
    settings = Settings()
    stop = stop_on_signals()
    engine = db.make_engine(settings.database.url)
    locator = Locator(engine, settings.locate.locate_tolerance_m, settings.locate.locate_refresh_s)
    recorder = open_worker(
        settings.kafka, engine, locator, batch_size=batch_size, rejoin_after_s=settings.pipeline.worker_rejoin_after_s
    )
    pipeline = settings.pipeline
    reconciler = Reconciler(
        settings.kafka,
        engine,
        recorder.producer,
        after_s=pipeline.reconcile_after_s,
        every_s=pipeline.reconcile_every_s,
    )
    reconciling = reconciler.start(stop)
    totals = recorder.run(stop)
    reconciling.join(timeout=10)
    engine.dispose()
    console.print(tell("cli.worker_stopped", totals=str(totals), resent=reconciler.resent), highlight=False)


@app.command()
def sla() -> None:
    """Run the SLA clock: deadlines, escalations, patrol flags, and the transitions outbox."""
    from cli.wording import notice_text
    from streams.notices import NoticeSettings
    from streams.outbox import Outbox
    from streams.producer import EventProducer
    from streams.sla import Notices, SlaEngine

    _log_to_stderr()
    settings = Settings()
    stop = stop_on_signals()
    rules = settings.rules()
    report_calendar(rules.calendar)
    engine = db.make_engine(settings.database.url)
    producer = EventProducer(settings.kafka, client_id="gridgov-sla", timeout_s=30)
    keep = timedelta(days=settings.registers.access_log_days)
    noticing = NoticeSettings()
    notices = Notices(noticing.sender(), partial(notice_text, tz=rules.calendar.tz), noticing.notice_attempts)
    outbox = Outbox(engine, settings.kafka, producer)
    sla_engine = SlaEngine(
        engine,
        rules,
        outbox,
        access_log_keep=keep,
        case_history_months=settings.sla.case_history_months,
        event_months=settings.sla.event_months,
        notices=notices,
    )
    sla_engine.run(stop, settings.sla.sla_tick_s)
    producer.close()
    engine.dispose()


@app.command()
def simulate(
    gridworkers: Annotated[int, typer.Option(help="Simulated gridworkers, one grid each")] = 50,
    rate: Annotated[float, typer.Option(help="Events per second in all")] = 2.0,
    api_url: Annotated[str | None, typer.Option(help="Default: the local API")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many events")] = None,
    password: Annotated[str, typer.Option(help="Password of the simulator's users sim-…")] = DEMO_PASSWORD,
    casework: Annotated[bool, typer.Option(help="Supervisors, units and gridworkers also work the cases")] = True,
) -> None:
    """Simulated gridworkers posting patrols, incidents and visits, and staff working the cases, through the API."""
    from cli.casework import Habits
    from cli.demo import sim_units
    from cli.simulate import run as run_simulator

    _log_to_stderr()
    settings = Settings()
    base = api_url or f"http://{settings.api.api_host}:{settings.api.api_port}"
    stop = stop_on_signals()
    while not stop.is_set():  # wait for the API when started beside it
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        stop.wait(0.5)
    units = sim_units(list(settings.rules().departments.values()))
    habits = Habits() if casework else None
    stats = run_simulator(base, gridworkers, rate, stop, password, limit=limit, units=units, habits=habits)
    console.print(tell("cli.simulator_stopped", stats=str(stats)), highlight=False)


def main() -> None:
    """The ``gridgov`` entry point: a bad setting or a failed set-up step is one clear line, not a traceback."""
    try:
        app()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        shout("cli.configuration", problems=problems)
        raise SystemExit(2) from None
    except ServiceError as exc:
        shout("cli.refused", message=str(exc))
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
