"""``GET /health``: is the database up, is the broker up, how far the calendar reaches."""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep, ProducerDep, RulesDep

router = APIRouter(tags=["health"])


class ServiceHealth(BaseModel):
    """One dependency's state."""

    status: Literal["up", "down"]
    detail: str = ""


class CalendarHealth(BaseModel):
    """How far the working calendar's official schedule reaches (warns from 1 December about next year)."""

    official_through: int
    warning: str | None = None


class Health(BaseModel):
    """The API's dependencies and the overall state."""

    status: Literal["ok", "degraded"]
    database: ServiceHealth
    broker: ServiceHealth
    calendar: CalendarHealth


def _database(engine: EngineDep) -> ServiceHealth:
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        return ServiceHealth(status="up", detail=f"PostGIS {version}")
    except SQLAlchemyError as exc:
        return ServiceHealth(status="down", detail=type(getattr(exc, "orig", None) or exc).__name__)


@router.get("/health", response_model=Health)
async def get_health(engine: EngineDep, producer: ProducerDep, rules: RulesDep, response: Response) -> Health:
    """Report database and broker status (503 when either is down) and the calendar's reach."""
    database = await run_in_threadpool(_database, engine)
    broker_up, detail = await run_in_threadpool(producer.check)
    broker = ServiceHealth(status="up" if broker_up else "down", detail=detail)
    ok = database.status == broker.status == "up"
    if not ok:
        response.status_code = 503
    today = datetime.now(rules.calendar.tz).date()
    calendar = CalendarHealth.model_validate(rules.calendar.coverage(today))
    return Health(status="ok" if ok else "degraded", database=database, broker=broker, calendar=calendar)
