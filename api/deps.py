"""Dependencies and helpers the routers share: the ledger's engine, JSON in and out."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Response
from sqlalchemy import Engine

from core.settings import get_settings
from models.problems import InvalidInput, Problem
from storage.session import engine_for


def get_engine() -> Engine:
    """The ledger's engine for this process (migrations run on first use)."""
    return engine_for(get_settings())


EngineDep = Annotated[Engine, Depends(get_engine)]


def json_response(document: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status_code, media_type="application/json")


def read_json_body(body: bytes, *, empty: Any = ...) -> Any:
    """The decoded body, or a refusal saying where the JSON breaks. ``empty``: what an empty body
    stands for (by default an empty body is refused like any malformed one)."""
    if empty is not ... and not body.strip():
        return empty
    try:
        # orjson: no recursion limit to crash on deep nesting, every number past int64 refused
        # or read as a float, never wrapped
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem((), f"body is not valid JSON: {exc}", "json_invalid")]
        ) from None
