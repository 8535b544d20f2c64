"""Dependencies that routes receive through ``Annotated`` aliases, taken from ``app.state``."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine

from api.settings import Settings
from geo.locator import Locator
from streams.producer import EventProducer
from streams.rules import Rules


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    # async: FastAPI runs a plain function dependency in its threadpool, a hop per request each.
    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"app_state_{name}"
    return get


EngineDep = Annotated[Engine, Depends(_state("engine"))]
ProducerDep = Annotated[EventProducer, Depends(_state("producer"))]
LocatorDep = Annotated[Locator, Depends(_state("locator"))]
RulesDep = Annotated[Rules, Depends(_state("rules"))]
SettingsDep = Annotated[Settings, Depends(_state("settings"))]
