"""Access control and request size: API keys for every change of state, reads open or closed by
setting, and a cap on request bodies.

Keys come from the settings (``OMNIBROKER_API_KEYS``, comma-separated, several at once so keys can
be rotated without downtime), sent as ``X-API-Key`` or ``Authorization: Bearer``. No key: 401.
A key that is not one of them: 403. Both schemes are declared in the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

import orjson
from fastapi import Depends, HTTPException, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from core.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


# Declared so that the OpenAPI document names the scheme and /docs can send a key; the check
# itself is ours (constant time, 401 versus 403), hence auto_error=False.
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="One of OMNIBROKER_API_KEYS. Needed for every write, and for reads when "
    "OMNIBROKER_READS_OPEN=false.",
)
BEARER = HTTPBearer(
    auto_error=False, scheme_name="Bearer", description="The same key as a bearer token."
)
ApiKey = Annotated[str | None, Security(API_KEY_HEADER)]
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


def _presented_key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    if api_key:
        return api_key
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    return None


def _check_key(key: str | None, settings: Settings) -> None:
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


def require_api_key(settings: SettingsDep, api_key: ApiKey, bearer: BearerToken) -> None:
    """For endpoints that change state."""
    _check_key(_presented_key(api_key, bearer), settings)


def require_read_access(settings: SettingsDep, api_key: ApiKey, bearer: BearerToken) -> None:
    """For reads: open unless ``OMNIBROKER_READS_OPEN=false``."""
    if not settings.reads_open:
        _check_key(_presented_key(api_key, bearer), settings)


WriteAccess = Depends(require_api_key)
ReadAccess = Depends(require_read_access)


class _BodyRefused(Exception):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem


class BodyGuardMiddleware:
    """Guards request bodies. Over ``max_body_bytes``: 413, at once when Content-Length says so,
    and while streaming when a chunked body grows past it. A client that stalls for
    ``body_timeout_s`` between two parts of its body: 408. Both close the connection (the rest
    of the body is never read). Settings are read per request, so a change applies without
    rebuilding the app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        limit, timeout_s = settings.max_body_bytes, settings.body_timeout_s
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(send, 413, _too_large(limit))
                return
        received = 0
        body_done = False
        started = False

        async def guarded_receive() -> dict[str, Any]:
            nonlocal received, body_done
            if body_done:  # waiting for a disconnect is no body read: no timeout
                return dict(await receive())
            try:
                message = dict(await asyncio.wait_for(receive(), timeout_s))
            except TimeoutError:
                raise _BodyRefused(408, _too_slow(timeout_s)) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyRefused(413, _too_large(limit))
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _BodyRefused as refusal:
            if not started:
                await _refuse(send, refusal.status, refusal.problem)


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "loc": ["body"],
        "msg": f"the body is larger than {limit} bytes",
        "type": "body_too_large",
    }


def _too_slow(timeout_s: float) -> dict[str, Any]:
    return {
        "loc": ["body"],
        "msg": f"the body stalled for more than {timeout_s:g} s",
        "type": "body_timeout",
    }


async def _refuse(send: Any, status_code: int, problem: dict[str, Any]) -> None:
    body = orjson.dumps({"detail": [problem]})
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
