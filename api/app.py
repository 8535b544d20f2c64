"""The FastAPI application factory."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.middleware.gzip import GZipMiddleware

from api import (
    appeals,
    areas,
    auth,
    case_text,
    cases,
    components,
    events,
    health,
    indicators,
    map_layers,
    me,
    metrics,
    photos,
    register_changes,
    register_imports,
    registers,
    reports,
    resident_requests,
    users,
    visits,
    workbench,
    worklogs,
)
from api.access import route_key, unruled
from api.accounts import UserCache
from api.bodies import BodyLimit, hoist_definitions
from api.deadline import Deadline
from api.errors import install_handlers
from api.event_lane import EventLane, LanedAPI
from api.intake import Intake
from api.live import LiveFeed
from api.open311 import routes as open311
from api.pages import maps as pages_maps
from api.pages import phone as pages_phone
from api.pages import registers as pages_registers
from api.pages import work as pages_work
from api.pages.policy import PagePolicy
from api.ratelimit import RateLimiter, SignInThrottle
from api.settings import Settings
from api.tilecache import TileCache
from db.reads import ReadRoute
from geo.locator import Locator
from streams.producer import EventProducer
from streams.topics import Topics
from streams.watch import LagProbe
from streams.worker import GROUP

log = logging.getLogger(__name__)


def warm(state: State) -> None:
    """Ready at start what the first posts would otherwise wait for (some 300 ms at a restart under load).

    The grid index, the broker's connection and the raw topic's partitions, a database connection. A part
    that is away is left for the first post to find (and ``/health`` to tell).
    """
    steps: list[tuple[str, Callable[[], object]]] = [
        ("grid index", state.locator.index),
        ("broker", lambda: state.producer.prepare([state.intake.topics.raw])),
        ("database", lambda: state.engine.connect().close()),
    ]
    for part, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the first post meets it again, and answers it
            log.info("start-up: the %s is not ready yet (%s)", part, type(exc).__name__)


def create_app(settings: Settings | None = None, producer: EventProducer | None = None) -> LanedAPI:
    """Build the app; the engine and the producer live on ``app.state`` for its lifetime.

    ``producer`` replaces the Kafka producer (the ingest benchmark's no-Kafka baseline).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = settings.database.api_engine()
        database = settings.database
        app.state.reads = ReadRoute(
            app.state.engine, database.read_engine(), database.standby_max_lag_s, database.standby_check_s
        )
        # No linger: the intake already sends a group of posts as one produce.
        post_s = settings.api.post_timeout_s
        app.state.producer = producer or EventProducer(
            settings.kafka, timeout_s=post_s - 0.25, linger_ms=0, batch_size=524_288, metrics_enabled=False
        )
        app.state.protector = settings.registers.protector()
        app.state.intake = Intake(
            app.state.engine,
            app.state.producer,
            Topics.from_prefix(settings.kafka.topic_prefix),
            durable=not settings.pipeline.kafka_replicated,
            protector=app.state.protector,
            timeout_s=post_s - 0.25,
        )
        app.state.rules = settings.rules()
        app.state.visit_rules = settings.visit_rules()
        app.state.locator = Locator(
            app.state.engine, settings.locate.locate_tolerance_m, settings.locate.locate_refresh_s
        )
        app.state.live = LiveFeed(settings.kafka)
        app.state.tiles = TileCache(int(settings.api.tile_cache_mb * 1024 * 1024))
        topics = Topics.from_prefix(settings.kafka.topic_prefix)
        # Its answers within /health's wait (0.8 s), or an error.
        app.state.lag_probe = LagProbe(settings.kafka, settings.kafka.topic_prefix + GROUP, topics.raw, timeout_ms=700)
        app.state.watch_engine = settings.database.watch_engine()
        app.state.lookouts = health.Lookouts.of(
            app.state.watch_engine, app.state.producer, app.state.lag_probe, settings
        )
        app.state.pipeline_figures = metrics.PipelineCollector(app.state.watch_engine, app.state.lag_probe, topics.dead)
        app.state.metrics = metrics.registry(app.state.pipeline_figures, metrics.StandbyCollector(app.state.reads))
        app.state.users = UserCache(app.state.engine, settings.api.user_cache_s)
        app.state.limiter = RateLimiter(settings.api.event_posts_per_minute, settings.api.event_post_burst)
        app.state.sign_in_throttle = SignInThrottle()
        # What start-up built (routes, schemas, the pool, the rules) lives as long as the process:
        # out of the collector's passes, which would otherwise walk it again and again under load.
        gc.collect()
        gc.freeze()
        warming = asyncio.get_running_loop().run_in_executor(None, warm, app.state)
        try:
            yield
        finally:
            await warming  # bounded by the parts' own timeouts; before the producer closes
            app.state.live.close()
            app.state.lag_probe.close()
            app.state.producer.close()
            app.state.reads.close()
            app.state.intake.close()
            app.state.engine.dispose()
            app.state.watch_engine.dispose()

    app = LanedAPI(
        title="gridgov",
        version="0.1.0",
        summary="Urban grid governance: geotagged events, cases, deadlines and live maps.",
        lifespan=lifespan,
    )
    install_handlers(app)
    app.openapi = _with_body_definitions(app)  # type: ignore[method-assign]
    app.add_middleware(Deadline, posts_s=settings.api.post_timeout_s, others_s=settings.api.request_timeout_s)
    app.add_middleware(metrics.MetricsMiddleware)
    # Pages, GeoJSON, vector tiles and scripts travel compressed (a 10,000-grid city's map: ~4× less);
    # Starlette leaves the live feed (text/event-stream) and photos as they are.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    limits = settings.api
    app.add_middleware(
        BodyLimit,
        default=limits.max_json_bytes,
        families=[
            ("/v1/events", limits.max_event_bytes),
            ("/v1/requests", limits.max_event_bytes),
            ("/v1/events/batch", limits.max_batch_bytes),
            ("/v1/events/[^/]+/photos", limits.max_photo_bytes),
            ("/v1/register-imports", register_imports.MAX_UPLOAD_BYTES),
        ],
    )
    app.add_middleware(PagePolicy, tile_url=settings.api.tile_url)  # outermost: sees the headers as sent
    app.lane = EventLane(settings.api.post_timeout_s)  # single posts skip the stack, with the same answers
    for module in (  # events first: routes are matched in order, and posts are most of the traffic
        events,
        health,
        metrics,
        auth,
        areas,
        photos,
        cases,
        case_text,
        appeals,
        resident_requests,
        indicators,
        reports,
        visits,
        registers,
        register_changes,
        register_imports,
        worklogs,
        workbench,
        map_layers,
        components,
        pages_maps,
        pages_work,
        pages_registers,
        me,
        users,
        open311,
    ):
        app.include_router(module.router)
    pages_maps.mount_assets(app)
    pages_phone.mount_shell(app)
    missing = unruled(route_keys(app))
    if missing:
        raise RuntimeError(f"routes without an access rule in api.access.POLICY (or rules without a route): {missing}")
    return app


def _with_body_definitions(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with the hand-read bodies' definitions among the components (api.bodies)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = hoist_definitions(build())
        return app.openapi_schema

    return openapi


def route_keys(app: FastAPI) -> list[str]:
    """``METHOD path`` of every route of the API (as its OpenAPI schema lists them)."""
    return [route_key(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops]
