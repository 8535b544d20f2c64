"""``GET /metrics``: Prometheus metrics of the API and of the pipeline behind it.

The API's own (events accepted, posts refused by reason, request latency) are counted
in each process; with ``gridgov api --workers N`` they go through prometheus-client's
multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``) and are summed at scrape. The
pipeline's are read at scrape time from where they live: recorded and reconciled from
``pipeline_counter``, escalations from ``case_transition``, the oldest unrecorded event
from ``event_receipt``, the clock's ticks, failed jobs, skipped cases and outbox lag from
``clock_member``, ``clock_skip`` and ``case_transition``, lag and dead letters from the broker.
"""

import logging
import os
import time
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from kafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import REFUSALS
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
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            LATENCY.labels(scope["method"], template, str(status)).observe(time.perf_counter() - start)
            if scope["method"] == "POST" and template in INGEST_ROUTES and status >= 400:
                REFUSED.labels(REFUSALS.get(status, str(status))).inc()


class PipelineCollector:
    """The pipeline's figures, read at each scrape; a part that cannot be read is left out (and logged)."""

    def __init__(self, engine: Engine, probe: LagProbe, dead_topic: str) -> None:
        self.engine = engine
        self.probe = probe
        self.dead_topic = dead_topic

    def collect(self) -> Iterator[Metric]:
        """The families, read now."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT (SELECT value FROM pipeline_counter WHERE name = 'recorded') AS recorded,"
                        " (SELECT value FROM pipeline_counter WHERE name = 'reconciled') AS reconciled,"
                        " (SELECT count(*) FROM case_transition WHERE action IN ('escalate', 'auto_escalate')) AS up,"
                        f" ({OLDEST_UNRECORDED}) AS oldest"
                    )
                ).one()
                clock = clock_figures(conn)
            yield CounterMetricFamily("gridgov_events_recorded", "Events recorded in PostgreSQL", row.recorded or 0)
            yield CounterMetricFamily(
                "gridgov_events_reconciled", "Accepted events sent again by reconciliation", row.reconciled or 0
            )
            yield CounterMetricFamily("gridgov_escalations", "Cases escalated (吹哨), by people and the clock", row.up)
            yield GaugeMetricFamily(
                "gridgov_oldest_unrecorded_seconds",
                "Age of the oldest accepted event not yet recorded (0 when none waits)",
                float(row.oldest or 0),
            )
            yield from _clock_families(clock)
        except SQLAlchemyError as exc:
            log.warning("metrics: database figures left out (%s)", type(exc).__name__)
        try:
            lag = GaugeMetricFamily(
                "gridgov_consumer_lag", "Raw records not yet recorded, per partition", labels=["partition"]
            )
            for partition, waiting in sorted(self.probe.lag().items()):
                lag.add_metric([str(partition)], waiting)
            yield lag
            yield CounterMetricFamily(
                "gridgov_dead_letters", "Records sent to the dead-letter topic", self.probe.written(self.dead_topic)
            )
        except (KafkaError, LookupError) as exc:
            log.warning("metrics: broker figures left out (%s)", type(exc).__name__)


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


def registry(pipeline: PipelineCollector) -> CollectorRegistry:
    """The API's metrics (every process's, when they share a multiprocess directory) and the pipeline's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        found = CollectorRegistry()
        MultiProcessCollector(found)  # type: ignore[no-untyped-call]
    else:
        found = CollectorRegistry()
        found.register(_Default(REGISTRY))
    found.register(pipeline)
    return found


class _Default:
    """The process-wide registry's metrics, inside a registry of our own (which also holds the pipeline's)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        """The source's families."""
        yield from self.source.collect()


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def get_metrics(request: Request) -> Response:
    """Prometheus text format: the counters, gauges and histograms above."""
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
