"""Structured logs with a request id on every line, and the per-request middleware that sets it.

Every log line of the service is one JSON object (``ts``, ``level``, ``logger``, ``msg``, and
``request_id`` while a request is being handled, whatever logger wrote it: a solve in a worker
thread inherits the request's context). The id is the caller's ``X-Request-ID`` when it sends a
sane one (so a trace can cross services), else a fresh one; it is echoed in the response's
``X-Request-ID``. The middleware logs one ``request`` line per request (method, route, status,
milliseconds) and feeds the HTTP metrics of :mod:`api.metrics`.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from api import metrics

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

log = logging.getLogger("omnibroker.api")

# Fields every LogRecord has: anything else on a record was passed with ``extra=`` and is logged.
_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra=`` fields are kept, and the request id is added."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# Loggers whose lines the service writes: ours, and uvicorn's (its access log is replaced by the
# middleware's request line, which carries the request id).
_SERVICE_LOGGERS = ("omnibroker", "uvicorn", "uvicorn.error")


def configure_logging(level: int = logging.INFO, stream: Any = None) -> logging.Handler:
    """Route the service's loggers to one JSON handler (idempotent: a second call replaces the
    handler it installed). Returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.set_name("omnibroker-json")
    for name in _SERVICE_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if h.get_name() != "omnibroker-json"]
        if name != "omnibroker":
            # uvicorn installs its own plain-text handlers; ours replace them.
            logger.handlers = []
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    return handler


class RequestContextMiddleware:
    """Give every HTTP request an id (in the logs' context and the response), log it once when
    it ends, and time it for the metrics."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (
            dict(scope.get("headers", [])).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        )
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            # The route's template, not the raw path: /v1/brokering-runs/{run_id}, not one
            # label per run id.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.observe_http(scope["method"], route, status, seconds)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "ms": round(seconds * 1000, 1),
                },
            )
            request_id.reset(token)
