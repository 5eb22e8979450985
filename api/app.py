"""The FastAPI application: thin routers over the engine and the inventory ledger."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.routers import availability, inventory, order_updates, orders, runs, solve
from api.security import BodySizeLimitMiddleware


def create_app() -> FastAPI:
    app = FastAPI(
        title="Omnibroker",
        version="0.1.0",
        summary="Order brokering and inventory availability for omnichannel retail.",
    )
    app.include_router(solve.router)
    app.include_router(inventory.router)
    app.include_router(orders.router)
    app.include_router(runs.router)
    app.include_router(availability.router)
    app.include_router(order_updates.router)
    app.add_middleware(BodySizeLimitMiddleware)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            solve.register_schemas(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
