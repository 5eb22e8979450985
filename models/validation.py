"""The one way into the engine: raw JSON to a :class:`SolveRequest`, or every problem with it.

Two passes, both always run so that a request with a bad type *and* a duplicate id lists both:
pydantic checks each field; :func:`cross_reference_problems` checks the rules that span fields
(unknown and duplicate ids, what a delivery needs). The second pass reads the raw JSON defensively,
so it still works where the first found broken fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from pydantic import ValidationError

from models.collector import collector_paused
from models.problems import (
    InvalidInput,
    Problem,
    problems_from_validation_error,
    sort_problems,
    unique_problems,
)
from models.solve import SolveRequest


def parse_solve_request_json(body: bytes | str) -> SolveRequest:
    """Parse a request body. Raises :class:`InvalidInput` on malformed JSON or a refused request."""
    with collector_paused():  # the decoded JSON's objects too
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                [Problem((), f"body is not valid JSON: {exc}", "json_invalid")]
            ) from None
        return parse_solve_request(raw)


def parse_solve_request(raw: Any) -> SolveRequest:
    """Validate decoded JSON. Raises :class:`InvalidInput` listing every problem, or returns."""
    if not isinstance(raw, dict):
        raise InvalidInput([Problem((), "the request must be a JSON object", "model_type")])
    problems: list[Problem] = []
    request: SolveRequest | None = None
    with collector_paused():
        try:
            request = SolveRequest.model_validate(raw)
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc))
        problems.extend(cross_reference_problems(raw))
    if problems:
        raise InvalidInput(sort_problems(unique_problems(problems)))
    assert request is not None
    return request


def cross_reference_problems(raw: dict[str, Any]) -> list[Problem]:
    """Rules of the contract that span fields, checked on the raw request."""
    problems: list[Problem] = []
    locations = dict(_location_pickup(raw, problems))
    problems.extend(_inventory_problems(raw, locations))
    problems.extend(order_problems(raw, locations))
    return problems


def _items(raw: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    value = raw.get(key)
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def _location_pickup(raw: dict[str, Any], problems: list[Problem]) -> Iterator[tuple[str, bool]]:
    """Yields (location id, serves pickup) and records duplicate ids."""
    seen: dict[str, int] = {}
    for index, location in _items(raw, "locations"):
        location_id = location.get("id")
        if not isinstance(location_id, str):
            continue
        if location_id in seen:
            problems.append(
                Problem(
                    ("locations", index, "id"),
                    f"duplicate location id {location_id!r} (first at locations.{seen[location_id]})",
                    "duplicate_id",
                )
            )
            continue
        seen[location_id] = index
        pickup = location.get("pickup")
        if not isinstance(pickup, bool):
            pickup = location.get("kind") == "store"
        yield location_id, pickup


def _inventory_problems(raw: dict[str, Any], locations: dict[str, bool]) -> Iterator[Problem]:
    seen: dict[tuple[str, str], int] = {}
    for index, row in _items(raw, "inventory"):
        location_id, sku = row.get("location_id"), row.get("sku")
        if isinstance(location_id, str) and location_id not in locations:
            yield Problem(
                ("inventory", index, "location_id"),
                f"unknown location {location_id!r}",
                "unknown_id",
            )
        if isinstance(location_id, str) and isinstance(sku, str):
            pair = (location_id, sku)
            if pair in seen:
                yield Problem(
                    ("inventory", index),
                    f"location {location_id!r} and sku {sku!r} listed twice "
                    f"(first at inventory.{seen[pair]})",
                    "duplicate_id",
                )
            else:
                seen[pair] = index


def order_problems(raw: dict[str, Any], locations: dict[str, bool]) -> Iterator[Problem]:
    """The rules of ``raw["orders"]`` that span fields: duplicate order and line ids, what a
    delivery needs, known pickup and excluded locations (``locations``: id to serves pickup)."""
    seen: dict[str, int] = {}
    for index, order in _items(raw, "orders"):
        order_id = order.get("id")
        if isinstance(order_id, str):
            if order_id in seen:
                yield Problem(
                    ("orders", index, "id"),
                    f"duplicate order id {order_id!r} (first at orders.{seen[order_id]})",
                    "duplicate_id",
                )
            else:
                seen[order_id] = index
        delivery = order.get("delivery")
        if delivery == "ship" and order.get("ship_to") is None:
            yield Problem(
                ("orders", index, "ship_to"), "required when delivery is 'ship'", "missing"
            )
        if delivery == "pickup":
            pickup_id = order.get("pickup_location_id")
            if pickup_id is None:
                yield Problem(
                    ("orders", index, "pickup_location_id"),
                    "required when delivery is 'pickup'",
                    "missing",
                )
            elif isinstance(pickup_id, str):
                if pickup_id not in locations:
                    yield Problem(
                        ("orders", index, "pickup_location_id"),
                        f"unknown location {pickup_id!r}",
                        "unknown_id",
                    )
                elif not locations[pickup_id]:
                    yield Problem(
                        ("orders", index, "pickup_location_id"),
                        f"location {pickup_id!r} does not serve pickup orders (pickup is false)",
                        "pickup_not_served",
                    )
        excluded = order.get("exclude_location_ids")
        for excluded_index, excluded_id in enumerate(
            excluded if isinstance(excluded, list) else []
        ):
            if isinstance(excluded_id, str) and excluded_id not in locations:
                yield Problem(
                    ("orders", index, "exclude_location_ids", excluded_index),
                    f"unknown location {excluded_id!r}",
                    "unknown_id",
                )
        line_seen: dict[str, int] = {}
        for line_index, line in _items(order, "lines"):
            line_id = line.get("id")
            if not isinstance(line_id, str):
                continue
            if line_id in line_seen:
                yield Problem(
                    ("orders", index, "lines", line_index, "id"),
                    f"duplicate line id {line_id!r} in order {order_id!r} "
                    f"(first at lines.{line_seen[line_id]})",
                    "duplicate_id",
                )
            else:
                line_seen[line_id] = line_index
