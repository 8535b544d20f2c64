"""Dependencies that routes receive through ``Annotated`` aliases, taken from ``app.state``."""

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from api.accounts import UserCache
from api.errors import Refusal
from api.intake import Intake
from api.live import LiveFeed
from api.ratelimit import RateLimiter, SignInThrottle
from api.settings import Settings
from api.tilecache import TileCache
from cases.numbers import CASE_REF, NUMBER_RE, case_id_of
from cases.rules import Rules
from geo.locator import Locator
from registers.cadence import VisitRules
from registers.protect import Protector


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    # async: FastAPI runs a plain function dependency in its threadpool, a hop per request each.
    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"app_state_{name}"
    return get


EngineDep = Annotated[Engine, Depends(_state("engine"))]


async def _read_engine(request: Request) -> Engine:
    """The engine of a read route: the standby while it keeps up (``db.reads``), else the primary."""
    return request.app.state.reads.engine()  # type: ignore[no-any-return]


# Screens, indicators, tiles, map values, reports and exports; never a write or a page read after one.
ReadEngineDep = Annotated[Engine, Depends(_read_engine)]
IntakeDep = Annotated[Intake, Depends(_state("intake"))]
LocatorDep = Annotated[Locator, Depends(_state("locator"))]
RulesDep = Annotated[Rules, Depends(_state("rules"))]
VisitRulesDep = Annotated[VisitRules, Depends(_state("visit_rules"))]
ProtectorDep = Annotated[Protector, Depends(_state("protector"))]
SettingsDep = Annotated[Settings, Depends(_state("settings"))]
UsersDep = Annotated[UserCache, Depends(_state("users"))]
TileCacheDep = Annotated[TileCache, Depends(_state("tiles"))]
LiveDep = Annotated[LiveFeed, Depends(_state("live"))]
PostLimiterDep = Annotated[RateLimiter, Depends(_state("limiter"))]
SignInThrottleDep = Annotated[SignInThrottle, Depends(_state("sign_in_throttle"))]


def _today(request: Request) -> date:
    """Today in the city's time zone (the rules' ``timezone``)."""
    rules: Rules = request.app.state.rules
    return datetime.now(rules.calendar.tz).date()


TodayDep = Annotated[date, Depends(_today)]


async def _case_id(
    engine: EngineDep,
    case_id: Annotated[
        str, Path(pattern=CASE_REF, description="The case's number (案卷编号, 321111-20261206-0017) or id")
    ],
) -> UUID:
    """The id of the case a route names by number or by id (404 for a number no case has)."""
    if not NUMBER_RE.fullmatch(case_id):
        return UUID(case_id)  # an id: nothing to look up (the route checks the case exists)
    found = await run_in_threadpool(case_id_of, engine, case_id)
    if found is None:
        raise Refusal("not_found.case_yours", case=case_id)
    return found


CaseIdDep = Annotated[UUID, Depends(_case_id)]
