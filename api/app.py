"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import areas, cases, events, health, indicators, map
from api.errors import install_handlers
from api.live import LiveFeed
from api.settings import Settings
from geo.db import make_engine
from geo.locator import Locator
from streams.producer import EventProducer


def create_app(settings: Settings | None = None, producer: EventProducer | None = None) -> FastAPI:
    """Build the app; the engine and the producer live on ``app.state`` for its lifetime.

    ``producer`` replaces the Kafka producer (the ingest benchmark's no-Kafka baseline).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = make_engine(settings.database.url, settings.database.db_pool_size)
        app.state.producer = producer or EventProducer(settings.kafka)
        app.state.rules = settings.rules()
        app.state.locator = Locator(
            app.state.engine, settings.locate.locate_tolerance_m, settings.locate.locate_refresh_s
        )
        app.state.live = LiveFeed(settings.kafka)
        try:
            yield
        finally:
            app.state.live.close()
            app.state.producer.close()
            app.state.engine.dispose()

    app = FastAPI(
        title="gridgov",
        version="0.1.0",
        summary="Urban grid governance: geotagged events, cases, deadlines and live maps.",
        lifespan=lifespan,
    )
    install_handlers(app)
    app.include_router(health.router)
    app.include_router(areas.router)
    app.include_router(events.router)
    app.include_router(cases.router)
    app.include_router(indicators.router)
    app.include_router(map.router)
    map.mount_assets(app)
    return app
