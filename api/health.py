"""``GET /health``: is the database up, is the broker up, is the pipeline keeping up, how far the calendar reaches.

It answers within a second whatever hangs: each part is read by a ``Probe`` of its own
(with an engine of its own, so a pool held by hung requests does not hold it), and a part
that has not answered in time is reported from that (the database and the broker as down).
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import Engine, text

from api.deps import RulesDep, SettingsDep
from api.probes import Probe, Reading
from api.settings import Settings
from db.reads import ReadRoute, StandbyStatus
from streams.producer import EventProducer
from streams.sla import ClockFigures, ClockVerdict, clock_figures, judge_clock
from streams.watch import Freshness, LagProbe, Verdict, database_figures, judge

WAIT_S = 0.8  # what /health waits for any part: it answers within a second

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


class StandbyHealth(BaseModel):
    """The standby of the read routes (``GRIDGOV_DATABASE_READ_URL``): read from, or passed over for the primary."""

    status: StandbyStatus
    lag_s: float | None = None
    detail: str


class Health(BaseModel):
    """The API's dependencies and the overall state."""

    status: Literal["ok", "degraded", "failing"]
    database: ServiceHealth
    standby: StandbyHealth | None = None  # none set
    broker: ServiceHealth
    pipeline: PipelineHealth
    clock: ClockHealth
    calendar: CalendarHealth


def pipeline_freshness(engine: Engine, probe: LagProbe, seen_within_s: float) -> Freshness:
    """The pipeline's figures: receipts and members from PostgreSQL, lag from the broker (raises if either is away)."""
    with engine.connect() as conn:
        oldest, since, members = database_figures(conn, probe.group_id, seen_within_s)
    return Freshness(oldest, since, probe.lag(), members)


def _postgis(engine: Engine) -> str:
    with engine.connect() as conn:
        return f"PostGIS {conn.execute(text('SELECT postgis_lib_version()')).scalar_one()}"


def _clock_figures(engine: Engine) -> ClockFigures:
    with engine.connect() as conn:
        return clock_figures(conn)


@dataclass(frozen=True)
class Lookouts:
    """The probes ``/health`` reads, one per part."""

    database: Probe[str]
    broker: Probe[tuple[bool, str]]
    pipeline: Probe[Freshness]
    clock: Probe[ClockFigures]

    @classmethod
    def of(cls, engine: Engine, producer: EventProducer, lag: LagProbe, settings: Settings) -> "Lookouts":
        """Probes reading through ``engine`` (the watch's own), ``producer``'s broker check and ``lag``."""
        seen_s = settings.kafka.kafka_session_timeout_ms / 1000
        return cls(
            Probe(lambda: _postgis(engine), "database"),
            Probe(producer.check, "broker"),
            Probe(lambda: pipeline_freshness(engine, lag, seen_s), "pipeline"),
            Probe(lambda: _clock_figures(engine), "clock"),
        )


def _database(reading: Reading[str]) -> ServiceHealth:
    if reading.fresh and reading.value is not None:
        return ServiceHealth(status="up", detail=reading.value)
    return ServiceHealth(status="down", detail=reading.error or "")


def _broker(reading: Reading[tuple[bool, str]]) -> ServiceHealth:
    if reading.fresh and reading.value is not None:
        up, detail = reading.value
        return ServiceHealth(status="up" if up else "down", detail=detail)
    return ServiceHealth(status="down", detail=reading.error or "")


def _pipeline(reading: Reading[Freshness], settings: Settings) -> PipelineHealth:
    fresh = reading.value
    if not reading.fresh or fresh is None:
        return PipelineHealth(status="unknown", detail=f"cannot be measured: {reading.error}")
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


def _clock(reading: Reading[ClockFigures], settings: Settings) -> ClockHealth:
    figures = reading.value
    if not reading.fresh or figures is None:
        return ClockHealth(status="unknown", detail=f"cannot be measured: {reading.error}")
    verdict, why = judge_clock(figures, settings.sla.clock_degraded_after_s, settings.sla.clock_failing_after_s)
    return ClockHealth(
        status=verdict,
        detail=why,
        since_tick_s=figures.since_tick_s,
        oldest_unpublished_s=figures.oldest_unpublished_s,
        skipped=figures.skipped,
        failures=figures.failures,
    )


@router.get("/health", response_model=Health)
async def get_health(request: Request, rules: RulesDep, settings: SettingsDep, response: Response) -> Health:
    """Database, broker, pipeline and clock status, and the calendar's reach, within a second.

    ``status`` is ``failing`` (503) when the database or the broker is down or has not
    answered within 0.8 s, or the pipeline is failing; ``degraded`` (200) when the pipeline
    is behind, the clock is degraded or failing, or a standby is set but lags or is down (this
    API still answers: taking it out of service would not help the clock, so the clock's own
    ``status`` says how bad it is; the primary answers the read routes meanwhile).
    """
    look: Lookouts = request.app.state.lookouts
    db, broker_reading, pipe, tick = await asyncio.gather(
        look.database.read(WAIT_S), look.broker.read(WAIT_S), look.pipeline.read(WAIT_S), look.clock.read(WAIT_S)
    )
    database, broker = _database(db), _broker(broker_reading)
    pipeline, clock = _pipeline(pipe, settings), _clock(tick, settings)
    status: Literal["ok", "degraded", "failing"] = "ok"
    if database.status == "down" or broker.status == "down" or pipeline.status == "failing":
        status = "failing"
        response.status_code = 503
    elif pipeline.status != "ok" or clock.status in ("degraded", "failing"):
        status = "degraded"
    standby = _standby(request.app.state.reads)
    if status == "ok" and standby is not None and standby.status != "in_use":
        status = "degraded"  # the primary answers the read routes too
    today = datetime.now(rules.calendar.tz).date()
    calendar = CalendarHealth.model_validate(rules.calendar.coverage(today))
    return Health(
        status=status,
        database=database,
        standby=standby,
        broker=broker,
        pipeline=pipeline,
        clock=clock,
        calendar=calendar,
    )


def _standby(reads: ReadRoute) -> StandbyHealth | None:
    if not reads.configured:
        return None
    state = reads.state()
    return StandbyHealth(status=state.status, lag_s=state.lag_s, detail=state.detail)
