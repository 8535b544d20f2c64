"""``GET /health``: is the database up, is the broker up, is the pipeline keeping up, how far the calendar reaches."""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from kafka.errors import KafkaError
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep, LagProbeDep, ProducerDep, RulesDep, SettingsDep
from api.settings import Settings
from streams.sla import ClockVerdict, clock_figures, judge_clock
from streams.watch import Freshness, LagProbe, Verdict, database_figures, judge

router = APIRouter(tags=["health"])


class ServiceHealth(BaseModel):
    """One dependency's state."""

    status: Literal["up", "down"]
    detail: str = ""


class CalendarHealth(BaseModel):
    """How far the working calendar's official schedule reaches (warns from 1 December about next year)."""

    official_through: int
    warning: str | None = None


class PipelineHealth(BaseModel):
    """Whether accepted events reach PostgreSQL in time (thresholds ``GRIDGOV_PIPELINE_*_AFTER_S``)."""

    status: Literal["ok", "degraded", "failing", "unknown"]
    detail: str
    oldest_unrecorded_s: float | None = None
    since_progress_s: float | None = None
    lag: dict[int, int] = {}
    workers: int = 0


class ClockHealth(BaseModel):
    """Whether the SLA clock ticks and publishes (thresholds ``GRIDGOV_CLOCK_*_AFTER_S``); skipped cases by id."""

    status: ClockVerdict
    detail: str
    since_tick_s: float | None = None
    oldest_unpublished_s: float | None = None
    skipped: int = 0
    failures: int = 0


class Health(BaseModel):
    """The API's dependencies and the overall state."""

    status: Literal["ok", "degraded", "failing"]
    database: ServiceHealth
    broker: ServiceHealth
    pipeline: PipelineHealth
    clock: ClockHealth
    calendar: CalendarHealth


def pipeline_freshness(engine: Engine, probe: LagProbe) -> Freshness:
    """The pipeline's figures: receipts and members from PostgreSQL, lag from the broker (raises if either is away)."""
    with engine.connect() as conn:
        oldest, since, members = database_figures(conn, probe.group_id)
    return Freshness(oldest, since, probe.lag(), members)


def _pipeline(engine: Engine, probe: LagProbe, settings: Settings) -> PipelineHealth:
    try:
        fresh = pipeline_freshness(engine, probe)
    except (SQLAlchemyError, KafkaError, LookupError) as exc:
        return PipelineHealth(status="unknown", detail=f"cannot be measured: {type(exc).__name__}")
    verdict: Verdict
    verdict, why = judge(fresh, settings.pipeline.pipeline_degraded_after_s, settings.pipeline.pipeline_failing_after_s)
    return PipelineHealth(
        status=verdict,
        detail=why,
        oldest_unrecorded_s=fresh.oldest_unrecorded_s,
        since_progress_s=fresh.since_progress_s,
        lag=fresh.lag,
        workers=fresh.members,
    )


def _clock(engine: Engine, settings: Settings) -> ClockHealth:
    try:
        with engine.connect() as conn:
            figures = clock_figures(conn)
    except SQLAlchemyError as exc:
        return ClockHealth(status="unknown", detail=f"cannot be measured: {type(exc).__name__}")
    verdict, why = judge_clock(figures, settings.sla.clock_degraded_after_s, settings.sla.clock_failing_after_s)
    return ClockHealth(
        status=verdict,
        detail=why,
        since_tick_s=figures.since_tick_s,
        oldest_unpublished_s=figures.oldest_unpublished_s,
        skipped=figures.skipped,
        failures=figures.failures,
    )


def _database(engine: EngineDep) -> ServiceHealth:
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        return ServiceHealth(status="up", detail=f"PostGIS {version}")
    except SQLAlchemyError as exc:
        return ServiceHealth(status="down", detail=type(getattr(exc, "orig", None) or exc).__name__)


@router.get("/health", response_model=Health)
async def get_health(
    engine: EngineDep,
    producer: ProducerDep,
    probe: LagProbeDep,
    rules: RulesDep,
    settings: SettingsDep,
    response: Response,
) -> Health:
    """Database, broker, pipeline and clock status, and the calendar's reach.

    ``status`` is ``failing`` (503) when the database or the broker is down or the
    pipeline is failing; ``degraded`` (200) when the pipeline is behind or the clock is
    degraded or failing (this API still answers: taking it out of service would not help
    the clock, so the clock's own ``status`` says how bad it is).
    """
    database = await run_in_threadpool(_database, engine)
    broker_up, detail = await run_in_threadpool(producer.check)
    broker = ServiceHealth(status="up" if broker_up else "down", detail=detail)
    pipeline = await run_in_threadpool(_pipeline, engine, probe, settings)
    clock = await run_in_threadpool(_clock, engine, settings)
    status: Literal["ok", "degraded", "failing"] = "ok"
    if database.status == "down" or broker.status == "down" or pipeline.status == "failing":
        status = "failing"
        response.status_code = 503
    elif pipeline.status != "ok" or clock.status in ("degraded", "failing"):
        status = "degraded"
    today = datetime.now(rules.calendar.tz).date()
    calendar = CalendarHealth.model_validate(rules.calendar.coverage(today))
    return Health(status=status, database=database, broker=broker, pipeline=pipeline, clock=clock, calendar=calendar)
