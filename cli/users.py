"""``gridgov users``: add, list and disable the people who may sign in."""

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from api.access import Role
from api.accounts import UserError, add_user, list_users, set_disabled
from api.settings import Settings
from db.engine import make_engine

app = typer.Typer(help="Users who may sign in.", no_args_is_help=True)
console = Console()


@contextmanager
def configured_db() -> Iterator[Engine]:
    """The configured database; a refused change is one red line and exit status 1."""
    engine = make_engine(Settings().database.url)
    try:
        yield engine
    except UserError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@app.command("add")
def add(
    username: str,
    role: Annotated[Role, typer.Option(help="What the user is")],
    scope: Annotated[str, typer.Option(help="Area code (grid/community/street/district) or department name")] = "",
    replace: Annotated[bool, typer.Option(help="Reset an existing user's password, role and scope")] = False,
) -> None:
    """Add a user; the password comes from GRIDGOV_NEW_PASSWORD or is asked for."""
    password = os.environ.get("GRIDGOV_NEW_PASSWORD") or getpass.getpass(f"password for {username}: ")
    with configured_db() as engine:
        user = add_user(engine, username, password, role, scope, replace=replace)
    console.print(f"added {user.username} ({user.role.value}, scope {user.scope})")


@app.command("list")
def list_() -> None:
    """Every user with role, scope and whether disabled."""
    with configured_db() as engine:
        users = list_users(engine)
    table = Table("username", "role", "scope", "disabled")
    for u in users:
        table.add_row(u.username, u.role.value, u.scope, "yes" if u.disabled else "")
    console.print(table)


@app.command("disable")
def disable(username: str, enable: Annotated[bool, typer.Option(help="Enable again instead")] = False) -> None:
    """Disable a user (signing in stops at once; issued tokens within GRIDGOV_USER_CACHE_S)."""
    with configured_db() as engine:
        user = set_disabled(engine, username, not enable)
    console.print(f"{user.username}: {'disabled' if user.disabled else 'enabled'}")
