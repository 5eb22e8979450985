"""Access control and request size: API keys for every change of state, reads open or closed by
setting, and a cap on request bodies.

Keys come from the settings (``OMNIBROKER_API_KEYS``, comma-separated, several at once so keys can
be rotated without downtime), sent as ``X-API-Key`` or ``Authorization: Bearer``. No key: 401.
A key that is not one of them: 403.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import orjson
from fastapi import Depends, HTTPException, Request, status

from core.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


def _check_key(request: Request, settings: Settings) -> None:
    key = _presented_key(request)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=[
                {
                    "loc": ["header", "x-api-key"],
                    "msg": "an API key is required",
                    "type": "missing_api_key",
                }
            ],
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Compare with every key in constant time, so timing does not tell how much of a key matched.
    matched = False
    for allowed in settings.api_keys:
        matched |= hmac.compare_digest(key.encode(), allowed.encode())
    if not matched:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=[
                {
                    "loc": ["header", "x-api-key"],
                    "msg": "the API key is not accepted",
                    "type": "wrong_api_key",
                }
            ],
        )


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """For endpoints that change state."""
    _check_key(request, settings)


def require_read_access(request: Request, settings: SettingsDep) -> None:
    """For reads: open unless ``OMNIBROKER_READS_OPEN=false``."""
    if not settings.reads_open:
        _check_key(request, settings)


WriteAccess = Depends(require_api_key)
ReadAccess = Depends(require_read_access)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuse bodies over ``max_body_bytes`` with 413: at once when Content-Length says so, and
    while streaming when a chunked body grows past it (the limit is read per request, so a
    settings change applies without a restart of the app object)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit)
                return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Any, limit: int) -> None:
    body = orjson.dumps(
        {
            "detail": [
                {
                    "loc": ["body"],
                    "msg": f"the body is larger than {limit} bytes",
                    "type": "body_too_large",
                }
            ]
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
