"""Small hand-made solve requests for the contract's tests, written as the contract spells them."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from engine.bound import Duals
from engine.checker import assert_valid
from engine.measures import fill_by_priority
from engine.problem import ProblemData, build_problem
from engine.solve import solve
from models.validation import parse_solve_request
from tests.reference import ReferenceOptimum, reference_optimum

# Boston and nearby points: distances of a few km to a few hundred km.
BOSTON = {"lat": 42.36, "lon": -71.06}
NEWARK = (40.73, -74.17)
MANHATTAN = (40.75, -73.99)
PROVIDENCE = (41.82, -71.41)
WORCESTER = (42.26, -71.80)


def location(
    id: str, kind: str = "store", at: tuple[float, float] = MANHATTAN, **extra: Any
) -> dict[str, Any]:
    return {"id": id, "kind": kind, "lat": at[0], "lon": at[1], **extra}


def stock(location_id: str, sku: str, quantity: int) -> dict[str, Any]:
    return {"location_id": location_id, "sku": sku, "quantity": quantity}


def ship_order(
    id: str, *lines: tuple[str, int], to: dict[str, float] = BOSTON, **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "delivery": "ship",
        "ship_to": to,
        "lines": [
            {"id": str(i + 1), "sku": sku, "quantity": q} for i, (sku, q) in enumerate(lines)
        ],
        **extra,
    }


def pickup_order(id: str, at: str, *lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "delivery": "pickup",
        "pickup_location_id": at,
        "lines": [
            {"id": str(i + 1), "sku": sku, "quantity": q} for i, (sku, q) in enumerate(lines)
        ],
        **extra,
    }


def request(
    locations: list[dict[str, Any]],
    inventory: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    **policy: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"locations": locations, "inventory": inventory, "orders": orders}
    body["policy"] = {"relative_gap": 0.0, **policy}
    return body


def solved(raw: dict[str, Any]) -> dict[str, Any]:
    """Solve a raw request and check the response against the contract before returning it."""
    parsed = parse_solve_request(raw)
    response = solve(parsed)
    assert_valid(parsed, response)
    return response


def units(response: dict[str, Any], order_id: str, location_id: str | None = None) -> int:
    return sum(
        a["quantity"]
        for a in response["allocations"]
        if a["order_id"] == order_id and (location_id is None or a["location_id"] == location_id)
    )


def locations_of(response: dict[str, Any], order_id: str) -> set[str]:
    return {a["location_id"] for a in response["allocations"] if a["order_id"] == order_id}


def reason_of(response: dict[str, Any], order_id: str, line_id: str = "1") -> str | None:
    for row in response["unallocated"]:
        if row["order_id"] == order_id and row["line_id"] == line_id:
            return str(row["reason"])
    return None


def problem_arrays(data: ProblemData) -> dict[str, np.ndarray]:
    """A problem's arrays by name, to compare two builds of one request."""
    return {
        f.name: getattr(data, f.name)
        for f in dataclasses.fields(data)
        if isinstance(getattr(data, f.name), np.ndarray)
    }


def allocation_of(data: ProblemData, allocations: list[dict[str, object]]) -> np.ndarray:
    """Units per candidate of ``data`` for response-style allocation rows (order, line,
    location, quantity): a reference optimum's, to price the engine's bounds at its fill."""
    x = np.zeros(data.n_candidates, dtype=np.int64)
    for row in allocations:
        for c in range(data.n_candidates):
            line = int(data.candidate_line[c])
            if (
                data.order_ids[int(data.line_order[line])] == row["order_id"]
                and data.line_ids[line] == row["line_id"]
                and data.location_ids[int(data.candidate_location[c])] == row["location_id"]
            ):
                x[c] = int(row["quantity"])  # type: ignore[call-overload]
    return x


def random_duals(data: ProblemData, rng: np.random.Generator, *, fill: bool = False) -> Duals:
    """Duals of the signs the rows allow, drawn at random: half of each kind 0 (``fill``: the
    fill rows' too, else 0)."""

    def draw(n: int) -> np.ndarray:
        return -rng.exponential(5.0, n) * (rng.random(n) < 0.5)

    n_priorities = len(data.priorities)
    return Duals(
        line=draw(data.n_lines),
        stock=draw(data.inventory_quantity.size),
        order=draw(data.n_orders),
        ships=draw(data.n_locations),
        units=draw(data.n_locations),
        fill=-draw(n_priorities) if fill else np.zeros(n_priorities),
    )


def at_the_optimum(raw: dict[str, Any]) -> tuple[ProblemData, np.ndarray, ReferenceOptimum]:
    """A tiny request's problem, its exact optimum (``tests.reference``) and that optimum's
    units per candidate: where a bound is held against the optimum."""
    request_ = parse_solve_request(raw)
    reference = reference_optimum(request_)
    data = build_problem(request_)
    x = allocation_of(data, reference.allocations)
    assert fill_by_priority(data, x) == reference.fill_by_priority
    return data, x, reference
