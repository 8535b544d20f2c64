"""``gridgov services``, ``db`` and ``topics``: the local services, the schema and the Kafka topics."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.settings import Settings
from cli.local import broker, postgres, standby
from cli.local.service import ServiceError, ServiceStatus
from cli.wording import fail, tell
from db import engine as db
from registers.old_text import seal_old_text
from registers.visits import fill_visit_days
from streams.topics import Topics, create_topics

app = typer.Typer(help="Local PostgreSQL/PostGIS and Kafka-protocol broker.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
console = Console(soft_wrap=True)


def print_statuses(statuses: list[ServiceStatus]) -> None:
    """Each service as a row: address, health, who runs it."""
    table = Table(*(tell(f"cli.services_{c}") for c in ("service", "address", "health", "managed", "detail")))
    for s in statuses:
        table.add_row(
            s.name,
            s.address,
            f"[green]{tell('cli.up')}[/]" if s.healthy else f"[red]{tell('cli.down')}[/]",
            tell("cli.yes") if s.managed else tell("cli.external"),
            s.detail,
        )
    console.print(table)


def services_up(settings: Settings) -> list[ServiceStatus]:
    """Start (or check) both services and create the topics; the statuses as they are afterwards."""
    try:
        statuses = [postgres.up(settings), broker.up(settings)]
    except ServiceError as exc:
        fail("cli.refused", message=str(exc))
    if all(s.healthy for s in statuses):
        created = create_topics(settings.kafka)
        if created:
            console.print(tell("cli.topics_created", topics=created), highlight=False)
            statuses[1] = broker.status(settings)  # the broker's line counts them
    return statuses


@app.command("up")
def services_up_command(
    with_standby: Annotated[
        bool, typer.Option("--standby", help="Also a streaming-replication standby of the local cluster")
    ] = False,
) -> None:
    """Start the local services (idempotent); with external URLs set, only check them."""
    settings = Settings()
    statuses = services_up(settings)
    if with_standby and statuses[0].healthy:
        try:
            statuses.append(standby.up(settings))
        except ServiceError as exc:
            fail("cli.refused", message=str(exc))
    print_statuses(statuses)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)
    if with_standby:
        console.print(tell("cli.standby_url", url=standby.url(settings)), highlight=False)


@app.command("down")
def services_down_command() -> None:
    """Stop the local services the project started; external ones are left alone."""
    settings = Settings()
    downs = (("broker", broker.down), ("standby", standby.down), ("postgres", postgres.down))
    stopped = [name for name, down in downs if down(settings)]
    console.print(tell("cli.stopped", services=stopped) if stopped else tell("cli.nothing_running"), highlight=False)


@app.command("status")
def services_status_command() -> None:
    """Print each service, its address and health."""
    settings = Settings()
    statuses = [postgres.status(settings), broker.status(settings)]
    if standby.pid(settings) is not None:
        statuses.append(standby.status(settings))
    print_statuses(statuses)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """The migrations up to ``revision``; at head, then what they cannot do alone.

    That is the free text stored before it was masked (masked, sealed) and the local day of each latest
    visit migration 0028 kept (it needs the city's zone, from the rules).
    """
    db.upgrade(settings.database.url, revision)
    if revision != "head":
        return
    engine = db.make_engine(settings.database.url)
    try:
        changed = seal_old_text(engine, settings.registers.protector())
        with engine.begin() as conn:
            fill_visit_days(conn, settings.rules().calendar.tz)
    finally:
        engine.dispose()
    if any(changed.values()):
        console.print(tell("cli.old_text_sealed", descriptions=changed["description"], notes=changed["note"]))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (at head, also mask and seal free text stored before)."""
    upgrade_database(Settings(), revision)
    console.print(tell("cli.database_at", revision=revision), highlight=False)


@topics_app.command("create")
def topics_create() -> None:
    """Create the platform's topics with the configured partitions."""
    settings = Settings().kafka
    created = create_topics(settings)
    wanted = Topics.from_prefix(settings.topic_prefix).all()
    if created:
        console.print(tell("cli.topics_created", topics=created), highlight=False)
    else:
        console.print(tell("cli.topics_exist", n=len(wanted), topics=wanted), highlight=False)


@app.command("remove")
def services_remove_command() -> None:
    """Stop the local services and delete the local cluster's data (external services are left alone)."""
    settings = Settings()
    broker.down(settings)
    removed = (standby.remove(settings) | postgres.remove(settings)) if settings.database.is_local else False
    console.print(tell("cli.removed" if removed else "cli.nothing_removed"), highlight=False)
