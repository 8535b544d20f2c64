"""The command line's words: each report and refusal from the catalogue, in ``GRIDGOV_LANG`` (default zh)."""

from collections.abc import Mapping
from typing import Any, Literal, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.markup import escape

from cases.categories import category_names
from web.messages import DEFAULT_LANGUAGE, say
from web.reading import minute

_console = Console(soft_wrap=True)


class LanguageSettings(BaseSettings):
    """The language of the command line's output (the API answers each caller in theirs)."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", extra="ignore")

    lang: Literal["zh", "en"] = "zh"


def lang() -> str:
    """The language of the command line's output (zh if ``GRIDGOV_LANG`` names none of ours)."""
    try:
        return LanguageSettings().lang
    except ValidationError:
        return DEFAULT_LANGUAGE


def tell(key: str, **values: Any) -> str:
    """The catalogue's sentence for ``key`` with ``values``, in the command line's language."""
    return say(key, lang(), values)


def told(message: Mapping[str, Any]) -> str:
    """A message handed up as ``{"key", "values"}`` (a report's line) worded."""
    return say(str(message["key"]), lang(), message.get("values"))


def fail(key: str, status: int = 1, **values: Any) -> NoReturn:
    """One red line (``错误：…``) and exit ``status``: how every command refuses."""
    shout(key, **values)
    raise typer.Exit(status)


def shout(key: str, **values: Any) -> None:
    """One red line (``错误：…``) on the console, for a refusal that exits its own way."""
    _console.print(f"[red]{escape(tell('cli.error'))}[/]{escape(tell(key, **values))}", highlight=False)


def notice_text(row: Any, tz: Any) -> str:
    """A notice's text (streams.notices): the case by number and category, and its deadline in the city's zone."""
    category = category_names(lang()).get(row.category, row.category)
    deadline = minute(row.deadline, str(tz)) or "—"
    return tell(f"notice.{row.kind}", number=row.number, category=category, deadline=deadline)
