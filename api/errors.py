"""Refusals, in one place: every input the API refuses gets its status and the same problem list
(``{"detail": [{"loc", "msg", "type"}]}``), whether pydantic, a reader or the ledger found it.

Routers raise; they never catch. :class:`~models.problems.InvalidInput` is a 422,
:class:`NotFound` a 404, FastAPI's own validation of paths and queries a 422 in the same shape,
an unreachable database a 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError

from core.settings import DatabaseUnavailable
from models.problems import InvalidInput, Problem, problems_from_errors

T = TypeVar("T")


class NotFound(InvalidInput):
    """The thing named in the path does not exist (404)."""


def found(read: Callable[..., T], *args: Any) -> T:
    """``read(*args)``, with the ledger's "no such thing" refusal as a 404."""
    try:
        return read(*args)
    except NotFound:
        raise
    except InvalidInput as error:
        raise NotFound(error.problems, error.what) from None


def problem_response(status: int, problems: list[Problem], **headers: str) -> Response:
    body = orjson.dumps({"detail": [p.as_dict() for p in problems]})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _invalid_input(_request: Request, error: Exception) -> Response:
    assert isinstance(error, InvalidInput)
    return problem_response(404 if isinstance(error, NotFound) else 422, error.problems)


async def _request_validation(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return problem_response(422, problems_from_errors(error.errors()))


async def _database_unavailable(_request: Request, error: Exception) -> Response:
    return problem_response(503, [Problem((), str(error), "database_unavailable")])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
