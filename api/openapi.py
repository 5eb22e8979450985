"""What the OpenAPI document says of the routes that read their bodies raw (for speed, or to
stream them): the schema of each body, and every response a route can give.

A raw-body route declares ``openapi_extra=request_body(...)``; the models it names are put into
the document's components by :func:`register_schemas`, so ``/docs`` shows and tries them and a
fuzzer builds valid bodies from them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from models.inventory import (
    BrokeringRunRequest,
    Catalog,
    EventBatchDocument,
    FeedDocument,
    MorningRunRequest,
    OrderBatch,
)
from models.problems import Problems
from models.solve import Order, SolveRequest

BODY_MODELS: tuple[type[BaseModel], ...] = (
    SolveRequest,
    Catalog,
    FeedDocument,
    EventBatchDocument,
    Order,
    OrderBatch,
    BrokeringRunRequest,
    MorningRunRequest,
)

_WHY = {
    401: "No API key was sent",
    403: "The API key is not one of OMNIBROKER_API_KEYS",
    404: "Nothing of that id or version",
    408: "The client stalled while sending the body (OMNIBROKER_BODY_TIMEOUT_S)",
    413: "The body is larger than OMNIBROKER_MAX_BODY_BYTES; it is not read",
    422: "Refused whole: every problem, each with the place (path, line) at fault",
    503: "The database cannot be reached",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals a route can give, each with the problem list's schema."""
    return {
        code: {"description": _WHY[code], "model": Problems} for code in sorted({*codes, 422, 503})
    }


WRITE = (401, 403, 408, 413)
READ = (401, 403)


def request_body(
    schema: dict[str, Any], *, required: bool = True, csv: bool = False, example: Any = None
) -> dict[str, Any]:
    """An ``openapi_extra`` declaring a JSON body (and a CSV one if ``csv``)."""
    json_content: dict[str, Any] = {"schema": schema}
    if example is not None:
        json_content["example"] = example
    content: dict[str, Any] = {"application/json": json_content}
    if csv:
        content["text/csv"] = {
            "schema": {"type": "string"},
            "example": "location_id,sku,quantity\nS-017,TSHIRT-BLUE-XL,2\n",
        }
    return {"requestBody": {"required": required, "content": content}}


def model_body(model: type[BaseModel], **options: Any) -> dict[str, Any]:
    return request_body(_ref(model.__name__), **options)


def one_of(*models: type[BaseModel] | dict[str, Any], **options: Any) -> dict[str, Any]:
    schemas = [m if isinstance(m, dict) else _ref(m.__name__) for m in models]
    return request_body({"anyOf": schemas}, **options)


def array_of(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": _ref(model.__name__)}


def field_schema(model: type[BaseModel], field: str) -> dict[str, Any]:
    """The schema of one field of a model (its references resolve once the model is registered)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return dict(schema["properties"][field])


CSV_OR_JSON = {
    "content": {
        "application/json": {},
        "text/csv": {"schema": {"type": "string"}},
    }
}


def register_schemas(openapi: dict[str, Any]) -> None:
    """Put the raw-body routes' models into the document's components."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for model in BODY_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components[model.__name__] = schema
