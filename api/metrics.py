"""``GET /metrics``: Prometheus metrics of the API and of the pipeline behind it.

The API's own (events accepted, posts refused by reason, request latency) are counted
in each process; with ``gridgov api --workers N`` they go through prometheus-client's
multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``) and are summed at scrape. The
pipeline's are read at scrape time from where they live (or, when that does not answer
within half a second, served as last read with their age): recorded and reconciled from
``pipeline_counter``, escalations from ``case_transition``, the oldest unrecorded event
from ``event_receipt``, the clock's ticks, failed jobs, skipped cases and outbox lag from
``clock_member``, ``clock_skip`` and ``case_transition``, lag and dead letters from the broker.
"""

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import REFUSALS
from api.probes import Probe, Reading
from db.reads import ReadRoute
from streams.sla import ClockFigures, clock_figures
from streams.watch import OLDEST_UNRECORDED, LagProbe

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

ACCEPTED = Counter("gridgov_events_accepted", "Events accepted (202 or 201): held by the broker, and a receipt")
REFUSED = Counter("gridgov_posts_refused", "Posts of events refused, by reason", ["reason"])
SIGN_INS_FAILED = Counter(
    "gridgov_sign_ins_failed", "Sign-ins refused: wrong password (or user), or throttled", ["reason"]
)
LATENCY = Histogram(
    "gridgov_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_timers: dict[tuple[str, str, int], Histogram] = {}  # LATENCY's children by their labels, found once
INGEST_ROUTES = {"/v1/events", "/v1/events/batch", "/v1/requests", "/open311/v2/requests.{fmt}"}


class MetricsMiddleware:
    """Times every request by its route template; counts refused posts of events by status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; note its time, route and status when it is answered."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            observe(scope["method"], getattr(scope.get("route"), "path", "unmatched"), status, start)


def observe(method: str, template: str, status: int, start: float) -> None:
    """Note an answered request: its time since ``start`` (perf_counter), and a refused post by reason."""
    timer = _timers.get((method, template, status))
    if timer is None:
        timer = _timers[method, template, status] = LATENCY.labels(method, template, str(status))
    timer.observe(time.perf_counter() - start)
    if method == "POST" and template in INGEST_ROUTES and status >= 400:
        REFUSED.labels(REFUSALS.get(status, str(status))).inc()


@dataclass(frozen=True)
class DatabaseFigures:
    """The pipeline's figures kept in PostgreSQL."""

    recorded: int
    reconciled: int
    escalations: int
    oldest_unrecorded_s: float
    clock: ClockFigures


@dataclass(frozen=True)
class BrokerFigures:
    """The pipeline's figures kept by the broker."""

    lag: dict[int, int]
    dead_letters: int


def _database_figures(engine: Engine) -> DatabaseFigures:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT value FROM pipeline_counter WHERE name = 'recorded') AS recorded,"
                " (SELECT value FROM pipeline_counter WHERE name = 'reconciled') AS reconciled,"
                " (SELECT count(*) FROM case_transition WHERE action IN ('escalate', 'auto_escalate')) AS up,"
                f" ({OLDEST_UNRECORDED}) AS oldest"
            )
        ).one()
        clock = clock_figures(conn)
    return DatabaseFigures(row.recorded or 0, row.reconciled or 0, row.up, float(row.oldest or 0), clock)


class PipelineCollector:
    """The pipeline's figures: read at each scrape when they answer within ``WAIT_S``, else the last ones.

    ``/metrics`` never waits on PostgreSQL or the broker longer than that: a part that does
    not answer is served as last read, and ``gridgov_figures_age_seconds`` says how old
    (a part never read is left out, and logged).
    """

    WAIT_S = 0.5

    def __init__(self, engine: Engine, probe: LagProbe, dead_topic: str) -> None:
        self.database = Probe(lambda: _database_figures(engine), "metrics-database")
        self.broker = Probe(lambda: BrokerFigures(probe.lag(), probe.written(dead_topic)), "metrics-broker")
        self._readings: tuple[Reading[DatabaseFigures], Reading[BrokerFigures]] | None = None

    async def refresh(self) -> None:
        """Read both parts, waiting at most ``WAIT_S`` for them (together)."""
        self._readings = await asyncio.gather(self.database.read(self.WAIT_S), self.broker.read(self.WAIT_S))

    def collect(self) -> Iterator[Metric]:
        """The families as last refreshed."""
        if self._readings is None:
            return
        database, broker = self._readings
        age = GaugeMetricFamily(
            "gridgov_figures_age_seconds",
            "Age of the pipeline's figures served, by where they are kept (0: read at this scrape)",
            labels=["source"],
        )
        if database.value is not None:
            yield from _database_families(database.value)
            age.add_metric(["database"], database.age_s or 0.0)
        if broker.value is not None:
            lag = GaugeMetricFamily(
                "gridgov_consumer_lag", "Raw records not yet recorded, per partition", labels=["partition"]
            )
            for partition, waiting in sorted(broker.value.lag.items()):
                lag.add_metric([str(partition)], waiting)
            yield lag
            yield CounterMetricFamily(
                "gridgov_dead_letters", "Records sent to the dead-letter topic", broker.value.dead_letters
            )
            age.add_metric(["broker"], broker.age_s or 0.0)
        for source, reading in (("database", database), ("broker", broker)):
            if not reading.fresh:
                log.warning(
                    "metrics: %s figures %s (%s)", source, "stale" if reading.value else "left out", reading.error
                )
        yield age


def _database_families(row: DatabaseFigures) -> Iterator[Metric]:
    yield CounterMetricFamily("gridgov_events_recorded", "Events recorded in PostgreSQL", row.recorded)
    yield CounterMetricFamily(
        "gridgov_events_reconciled", "Accepted events sent again by reconciliation", row.reconciled
    )
    yield CounterMetricFamily("gridgov_escalations", "Cases escalated (吹哨), by people and the clock", row.escalations)
    yield GaugeMetricFamily(
        "gridgov_oldest_unrecorded_seconds",
        "Age of the oldest accepted event not yet recorded (0 when none waits)",
        row.oldest_unrecorded_s,
    )
    yield from _clock_families(row.clock)


def _clock_families(clock: ClockFigures) -> Iterator[Metric]:
    yield CounterMetricFamily("gridgov_clock_ticks", "SLA clock ticks finished (clocks running now)", clock.ticks)
    yield CounterMetricFamily("gridgov_clock_failures", "SLA clock jobs that failed in a tick", clock.failures)
    yield GaugeMetricFamily("gridgov_clock_skipped_cases", "Open cases a clock job skipped", clock.skipped)
    yield GaugeMetricFamily(
        "gridgov_outbox_lag_seconds",
        "Age of the oldest case transition not yet produced to Kafka (0 when none waits)",
        clock.oldest_unpublished_s or 0.0,
    )
    yield GaugeMetricFamily("gridgov_outbox_waiting", "Case transitions not yet produced to Kafka", clock.unpublished)


class StandbyCollector:
    """Whether the read routes read from the standby, and its lag (nothing when no standby is set)."""

    def __init__(self, reads: ReadRoute) -> None:
        self.reads = reads

    def collect(self) -> Iterator[Metric]:
        """The standby's two gauges."""
        if not self.reads.configured:
            return
        state = self.reads.state()
        yield GaugeMetricFamily(
            "gridgov_standby_in_use",
            "1 when the read routes read from the standby, 0 when from the primary",
            1 if state.in_use else 0,
        )
        yield GaugeMetricFamily(
            "gridgov_standby_lag_seconds",
            "How far the standby is behind the primary (NaN: it did not answer)",
            float("nan") if state.lag_s is None else state.lag_s,
        )


def registry(pipeline: PipelineCollector, standby: StandbyCollector) -> CollectorRegistry:
    """The API's metrics (every process's, when they share a multiprocess directory) and the pipeline's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        found = CollectorRegistry()
        MultiProcessCollector(found)  # type: ignore[no-untyped-call]
    else:
        found = CollectorRegistry()
        found.register(_Default(REGISTRY))
    found.register(pipeline)
    found.register(standby)
    return found


class _Default:
    """The process-wide registry's metrics, inside a registry of our own (which also holds the pipeline's)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        """The source's families."""
        yield from self.source.collect()


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def get_metrics(request: Request) -> Response:
    """Prometheus text format: the counters, gauges and histograms above (never waits past half a second)."""
    await request.app.state.pipeline_figures.refresh()
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
