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

from api.access import Role, check_scope
from api.accounts import add_user, check_reference, list_users, set_disabled, set_phone
from api.errors import Refusal
from api.settings import Settings
from cli.wording import fail, lang, tell
from db.engine import make_engine

app = typer.Typer(help="Users who may sign in.", no_args_is_help=True)
console = Console()


@contextmanager
def configured_db() -> Iterator[Engine]:
    """The configured database; a refused change is one red line and exit status 1."""
    engine = make_engine(Settings().database.url)
    try:
        yield engine
    except Refusal as exc:
        fail("cli.refused", message=exc.worded(lang())[0])
    finally:
        engine.dispose()


@app.command("add")
def add(
    username: str,
    role: Annotated[Role, typer.Option(help="What the user is")],
    scope: Annotated[
        str, typer.Option(help="Area code (grid/community/street/district), department name, or building codes")
    ] = "",
    replace: Annotated[bool, typer.Option(help="Reset an existing user's password, role, scope and name")] = False,
    name: Annotated[str, typer.Option(help="The name people read in histories (张三)")] = "",
) -> None:
    """Add a user; the password comes from GRIDGOV_NEW_PASSWORD or is asked for."""
    password = os.environ.get("GRIDGOV_NEW_PASSWORD") or getpass.getpass(tell("cli.password_for", user=username))
    with configured_db() as engine:
        scope = check_scope(role, scope)
        check_reference(engine, role, scope, set(Settings().rules().departments.values()))
        user = add_user(engine, username, password, role, scope, replace=replace, display_name=name)
    console.print(tell("cli.user_added", user=user.username, role=user.role.value, scope=user.scope), highlight=False)


@app.command("list")
def list_() -> None:
    """Every user with role, scope and whether disabled."""
    with configured_db() as engine:
        users = list_users(engine)
    table = Table(*(tell(f"cli.users_{column}") for column in ("username", "role", "scope", "disabled")))
    for u in users:
        table.add_row(u.username, tell("cli.role", role=u.role.value), u.scope, tell("cli.yes") if u.disabled else "")
    console.print(table)


@app.command("disable")
def disable(username: str, enable: Annotated[bool, typer.Option(help="Enable again instead")] = False) -> None:
    """Disable a user (signing in stops at once; issued tokens within GRIDGOV_USER_CACHE_S)."""
    with configured_db() as engine:
        user = set_disabled(engine, username, not enable)
    console.print(tell("cli.disabled" if user.disabled else "cli.enabled", user=user.username), highlight=False)


@app.command("phone")
def phone(username: str, number: Annotated[str, typer.Argument(help='11-digit mobile number; "" clears it')]) -> None:
    """Where the user's notices go by SMS (a case dispatched to them, their work sent back)."""
    with configured_db() as engine:
        set_phone(engine, username, number)
    console.print(tell("cli.phone_set" if number else "cli.phone_cleared", user=username), highlight=False)
