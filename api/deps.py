"""Dependencies the inventory routers share: the ledger's engine and the refusal response."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Response
from sqlalchemy import Engine

from core.settings import get_settings
from models.problems import InvalidInput
from storage.session import engine_for


def get_engine() -> Engine:
    """The ledger's engine for this process (migrations run on first use)."""
    return engine_for(get_settings())


EngineDep = Annotated[Engine, Depends(get_engine)]


def json_response(document: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status_code, media_type="application/json")


def refused(error: InvalidInput) -> Response:
    """422 with every problem, the body FastAPI itself uses."""
    return json_response(error.as_body(), status_code=422)


def not_found(error: InvalidInput) -> Response:
    return json_response(error.as_body(), status_code=404)


PROBLEMS_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key"},
    403: {"description": "The API key is not accepted"},
    413: {"description": "The body is larger than the configured limit"},
    422: {"description": "Refused whole: every problem with its place (line, field)"},
}
