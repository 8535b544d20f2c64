"""Dependencies that routes receive through ``Annotated`` aliases."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from api.settings import Settings
from geo.locator import Locator
from streams.producer import EventProducer
from streams.rules import Rules


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _producer(request: Request) -> EventProducer:
    producer: EventProducer = request.app.state.producer
    return producer


def _locator(request: Request) -> Locator:
    locator: Locator = request.app.state.locator
    return locator


def _rules(request: Request) -> Rules:
    rules: Rules = request.app.state.rules
    return rules


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(_engine)]
ProducerDep = Annotated[EventProducer, Depends(_producer)]
LocatorDep = Annotated[Locator, Depends(_locator)]
RulesDep = Annotated[Rules, Depends(_rules)]
SettingsDep = Annotated[Settings, Depends(_settings)]
