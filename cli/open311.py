"""``gridgov open311``: the client systems (12345 hotlines, citizen apps) that may post Open311 requests."""

from typing import Annotated

import typer
from rich.console import Console

from api.open311.clients import add_client
from cli.users import configured_db
from cli.wording import tell

app = typer.Typer(help="Open311 client systems (12345 hotlines, citizen apps).", no_args_is_help=True)
console = Console()


@app.command("add-client")
def add_client_command(name: Annotated[str, typer.Argument(help="The client system, e.g. 12345-hotline")]) -> None:
    """Register an Open311 client system and print its new API key (a second call replaces the key)."""
    with configured_db() as engine:
        key = add_client(engine, name)
    console.print(tell("cli.api_key", name=name, api_key=key), highlight=False, markup=False)
