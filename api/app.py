"""The FastAPI application: thin routers over the engine and the inventory ledger."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from api.errors import install_error_handlers
from api.observability import RequestContextMiddleware, configure_logging
from api.openapi import register_schemas
from api.routers import (
    availability,
    inventory,
    metrics,
    order_updates,
    orders,
    reports,
    runs,
    solve,
)
from api.security import BodyGuardMiddleware
from core.settings import get_settings

log = logging.getLogger("omnibroker")


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Under any server, not only `omnibroker serve`: bad settings stop the start-up (before a
    # connection is accepted) instead of answering 500 to every request.
    settings = get_settings()
    if not settings.api_keys:
        log.warning(
            "OMNIBROKER_API_KEYS is not set: every write (feeds, events, orders, runs) will be "
            "refused with 401"
        )
    yield


def create_app() -> FastAPI:
    # Swagger UI and ReDoc from the assets installed with fastapi-offline, not from a CDN, so
    # /docs and /redoc work on a machine without internet.
    app = FastAPIOffline(
        title="Omnibroker",
        version="0.1.0",
        summary="Order brokering and inventory availability for omnichannel retail.",
        lifespan=_lifespan,
    )
    app.include_router(solve.router)
    app.include_router(inventory.router)
    app.include_router(orders.router)
    app.include_router(runs.router)
    app.include_router(availability.router)
    app.include_router(order_updates.router)
    app.include_router(metrics.router)  # observability: metrics, run reports, JSON logs
    app.include_router(reports.router)
    app.add_middleware(BodyGuardMiddleware)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    configure_logging()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            register_schemas(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
