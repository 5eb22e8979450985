"""A brokering run's engine side: the queue and a snapshot in, one solve response out.

The solve contract has no way to say "never this location for this order", which a rejected line
needs. So orders that carry exclusions are brokered in their own requests, one per distinct set
of excluded locations, in which those locations do not appear; the rest of the queue goes in one
request. Parts run in sequence on what the earlier parts left (stock and location capacity), so
no unit and no capacity is promised twice, and their responses are merged into one response of
the contract's shape.

Re-queued orders go first: they were promised once already and their customer has waited
longest. (Inside each part the engine's fill-by-priority holds; across parts it holds only
within the order given here. An ``exclude_location_ids`` field on the solve contract's order
would let one request do it all.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.solve import SolveRequest
from models.validation import parse_solve_request

SolveFunction = Callable[[SolveRequest], dict[str, Any]]


@dataclass(frozen=True)
class QueuedOrder:
    """An order of the queue as the solve contract's JSON (its lines: what is still open), and
    the locations it must never be served from again."""

    order: dict[str, Any]
    excluded_location_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class RequestPart:
    excluded_location_ids: frozenset[str]
    orders: list[dict[str, Any]]


def plan_parts(queue: Sequence[QueuedOrder]) -> list[RequestPart]:
    """Group the queue into requests: one per set of exclusions (those first, most urgent order
    first), then the orders without exclusions."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for queued in queue:
        groups[queued.excluded_location_ids].append(queued.order)
    excluded_keys = [key for key in groups if key]
    excluded_keys.sort(key=lambda key: -max(o.get("priority", 0) for o in groups[key]))
    parts = [RequestPart(key, groups[key]) for key in excluded_keys]
    if frozenset() in groups:
        parts.append(RequestPart(frozenset(), groups[frozenset()]))
    return parts


def broker(
    locations: list[dict[str, Any]],
    inventory: list[dict[str, Any]],
    queue: Sequence[QueuedOrder],
    policy: dict[str, Any] | None,
    solve: SolveFunction,
) -> dict[str, Any]:
    """Broker the queue against ``inventory`` (ATP rows of a snapshot); returns one response in
    the solve contract's shape, its ``remaining`` one row per inventory row given.

    Raises :class:`models.problems.InvalidInput` if a part's request is refused by the contract's
    validation (a queued order that no longer fits the catalog)."""
    remaining = {(row["location_id"], row["sku"]): row["quantity"] for row in inventory}
    capacity = {loc["id"]: [loc.get("max_shipments"), loc.get("max_units")] for loc in locations}
    allocations: list[dict[str, Any]] = []
    unallocated: list[dict[str, Any]] = []
    shipments: list[dict[str, Any]] = []
    solvers: list[dict[str, Any]] = []
    total_cost = 0.0
    for part in plan_parts(queue):
        part_locations = [
            _with_capacity(loc, capacity[loc["id"]])
            for loc in locations
            if loc["id"] not in part.excluded_location_ids
        ]
        pickup_ok = {loc["id"] for loc in part_locations if _serves_pickup(loc)}
        # A location whose shipments or units are used up gives nothing more in this run; its
        # stock is left out of the request (the engine fails on a location with capacity 0).
        spent = {loc for loc, left in capacity.items() if left[0] == 0 or left[1] == 0}
        orders = []
        for order in part.orders:
            if order["delivery"] == "pickup" and order.get("pickup_location_id") not in pickup_ok:
                # Its only possible location rejected it (or closed): nothing can serve it now.
                unallocated.extend(
                    {"order_id": order["id"], "line_id": line["id"], "quantity": line["quantity"],
                     "reason": "no_eligible_location"}
                    for line in order["lines"]
                )  # fmt: skip
                continue
            orders.append(order)
        if not orders:
            continue
        request = parse_solve_request(
            {
                "locations": part_locations,
                "inventory": [
                    {"location_id": loc, "sku": sku, "quantity": quantity}
                    for (loc, sku), quantity in remaining.items()
                    if quantity > 0 and loc not in part.excluded_location_ids and loc not in spent
                ],
                "orders": orders,
                **({"policy": policy} if policy else {}),
            }
        )
        response = solve(request)
        line_sku = {
            (order["id"], line["id"]): line["sku"] for order in orders for line in order["lines"]
        }
        for allocation in response["allocations"]:
            sku = line_sku[(allocation["order_id"], allocation["line_id"])]
            remaining[(allocation["location_id"], sku)] -= allocation["quantity"]
        _use_capacity(capacity, response)
        allocations.extend(response["allocations"])
        unallocated.extend(response["unallocated"])
        shipments.extend(response["shipments"])
        solvers.append(response["solver"])
        total_cost += response["summary"]["total_cost"]
    all_orders = [queued.order for queued in queue]
    return {
        "allocations": allocations,
        "unallocated": unallocated,
        "remaining": [
            {
                "location_id": row["location_id"],
                "sku": row["sku"],
                "quantity": remaining[(row["location_id"], row["sku"])],
            }
            for row in inventory
        ],
        "shipments": shipments,
        "summary": _summary(all_orders, allocations, shipments, total_cost),
        "solver": _merge_solvers(solvers),
    }


def _serves_pickup(location: dict[str, Any]) -> bool:
    pickup = location.get("pickup")
    return pickup if pickup is not None else location["kind"] == "store"


def _with_capacity(location: dict[str, Any], left: list[int | None]) -> dict[str, Any]:
    return {**location, "max_shipments": left[0], "max_units": left[1]}


def _use_capacity(capacity: dict[str, list[int | None]], response: dict[str, Any]) -> None:
    for shipment in response["shipments"]:
        left = capacity[shipment["location_id"]]
        if left[0] is not None:
            left[0] -= 1
    for allocation in response["allocations"]:
        left = capacity[allocation["location_id"]]
        if left[1] is not None:
            left[1] -= allocation["quantity"]


def _summary(
    orders: list[dict[str, Any]],
    allocations: list[dict[str, Any]],
    shipments: list[dict[str, Any]],
    total_cost: float,
) -> dict[str, Any]:
    requested: dict[str, int] = {}
    priority_of: dict[str, int] = {}
    for order in orders:
        requested[order["id"]] = sum(line["quantity"] for line in order["lines"])
        priority_of[order["id"]] = order.get("priority", 0)
    allocated: dict[str, int] = defaultdict(int)
    for allocation in allocations:
        allocated[allocation["order_id"]] += allocation["quantity"]
    per_order_shipments: dict[str, int] = defaultdict(int)
    for shipment in shipments:
        per_order_shipments[shipment["order_id"]] += 1
    by_priority: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for order_id, units in requested.items():
        by_priority[priority_of[order_id]][0] += units
        by_priority[priority_of[order_id]][1] += allocated.get(order_id, 0)
    return {
        "orders": len(orders),
        "orders_fully_allocated": sum(
            1 for order_id, units in requested.items() if allocated.get(order_id, 0) >= units
        ),
        "units_requested": sum(requested.values()),
        "units_allocated": sum(allocated.values()),
        "shipments": len(shipments),
        "split_orders": sum(1 for n in per_order_shipments.values() if n > 1),
        "total_cost": round(total_cost, 2),
        "by_priority": [
            {"priority": p, "units_requested": v[0], "units_allocated": v[1]}
            for p, v in sorted(by_priority.items(), reverse=True)
        ],
    }


def _merge_solvers(solvers: list[dict[str, Any]]) -> dict[str, Any]:
    if not solvers:
        return {"name": "omnibroker/none", "status": "optimal", "objective": 0.0, "bound": 0.0,
                "gap": 0.0, "seconds": 0.0, "requests": 0}  # fmt: skip
    objective = sum(s["objective"] for s in solvers)
    bound = sum(s["bound"] for s in solvers)
    return {
        "name": solvers[0]["name"],
        "status": "optimal" if all(s["status"] == "optimal" for s in solvers) else "feasible",
        "objective": round(objective, 2),
        "bound": round(bound, 2),
        "gap": round((objective - bound) / objective, 6) if objective > 0 else 0.0,
        "seconds": round(sum(s["seconds"] for s in solvers), 3),
        "strategy": solvers[0].get("strategy", "optimal"),
        "requests": len(solvers),  # extension: how many solve requests the run made
    }
