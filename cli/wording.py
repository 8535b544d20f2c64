"""The command line's words: each report and refusal from the catalogue, in ``GRIDGOV_LANG`` (default zh)."""

from collections.abc import Mapping
from functools import cache
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from api.settings import ApiSettings
from web.messages import say

_console = Console(soft_wrap=True)


@cache
def lang() -> str:
    """The language of the command line's output."""
    return ApiSettings().lang


def tell(key: str, **values: Any) -> str:
    """The catalogue's sentence for ``key`` with ``values``, in the command line's language."""
    return say(key, lang(), values)


def told(message: Mapping[str, Any]) -> str:
    """A message handed up as ``{"key", "values"}`` (a report's line) worded."""
    return say(str(message["key"]), lang(), message.get("values"))


def fail(key: str, status: int = 1, **values: Any) -> NoReturn:
    """One red line (``错误：…``) and exit ``status``: how every command refuses."""
    _console.print(f"[red]{escape(tell('cli.error'))}[/]{escape(tell(key, **values))}", highlight=False)
    raise typer.Exit(status)
