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

import numpy as np

from engine.geo import haversine_km
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


# --- candidates of a large run ----------------------------------------------------------------

# Below this many stocked (location, sku) rows a run offers the engine every one (exact); above,
# the candidates are narrowed as :func:`candidate_rows` says.
EXACT_UP_TO_ROWS = 200_000


def candidate_rows(
    row_location: np.ndarray,
    row_sku: np.ndarray,
    row_atp: np.ndarray,
    location_lat: np.ndarray,
    location_lon: np.ndarray,
    location_ships: np.ndarray,
    line_sku: np.ndarray,
    line_quantity: np.ndarray,
    line_lat: np.ndarray,
    line_lon: np.ndarray,
    line_pickup_location: np.ndarray,
    nearest: int = 10,
    cover: float = 3.0,
) -> np.ndarray:
    """Which stock rows to offer the engine in a run over a large network: a mask over the rows.

    A network of a thousand locations stocking ten thousand skus has ten million stocked pairs,
    far more than a batch of orders can use; offering all of them makes a request the engine
    cannot hold in memory. Offered are, for each order line, its ``nearest`` shipping locations
    (by great-circle distance from its ship-to) that stock its sku, or its pickup store; and for
    each sku, the locations with the most units until they hold ``cover`` times the units the
    queue asks for (so fill never depends on the nearest locations having enough). Rows of skus
    no line asks for are never offered.

    Rows are ids (integers) aligned per stock row; lines likewise per order line, with NaN
    coordinates for pickup lines and ``line_pickup_location`` -1 for ship lines.
    """
    rows = row_location.size
    if rows == 0:
        return np.zeros(0, dtype=bool)
    sku_size = int(max(row_sku.max(initial=0), line_sku.max(initial=0))) + 1
    demand = np.bincount(line_sku, weights=line_quantity, minlength=sku_size)
    offered = np.zeros(rows, dtype=bool)
    stocked = (row_atp > 0) & (demand[row_sku] > 0)

    # Cover: per sku, the largest stocks first until cover x demand (ties in row order). Only
    # the stocked rows are sorted, on one int64 key (sku, then units descending) when it fits:
    # one stable sort instead of lexsort's two over every row.
    candidates = np.flatnonzero(stocked)
    cand_atp, cand_sku = row_atp[candidates].astype(np.int64), row_sku[candidates].astype(np.int64)
    most = int(cand_atp.max(initial=0))
    if most < 2**31 and sku_size < 2**31:
        order = candidates[np.argsort(cand_sku * (most + 1) + (most - cand_atp), kind="stable")]
    else:
        order = candidates[np.lexsort((-cand_atp, cand_sku))]
    sku_sorted = row_sku[order]
    running = np.cumsum(row_atp[order])
    first = np.searchsorted(sku_sorted, sku_sorted, side="left")
    before_sku = np.where(first > 0, running[np.maximum(first - 1, 0)], 0)
    held_before = running - row_atp[order] - before_sku
    offered[order[held_before < cover * demand[sku_sorted]]] = True

    # Nearest: per line, the nearest shipping locations (then those that stock its sku).
    key = (row_location.astype(np.int64) << 32) | row_sku.astype(np.int64)
    # A snapshot's rows come in (location, sku) order already: then no sort is needed.
    sorted_keys = np.arange(rows) if bool(np.all(key[1:] > key[:-1])) else np.argsort(key)
    shipping = np.flatnonzero(location_ships)
    ship_lines = np.flatnonzero(line_pickup_location < 0)
    take = min(nearest, shipping.size)
    for start in range(0, ship_lines.size, 2000):
        part = ship_lines[start : start + 2000]
        distance = haversine_km(
            line_lat[part, None], line_lon[part, None],
            location_lat[shipping][None, :], location_lon[shipping][None, :],
        )  # fmt: skip
        near = (
            shipping[np.argpartition(distance, take - 1, axis=1)[:, :take]]
            if take
            else np.zeros((part.size, 0), dtype=np.int64)
        )
        wanted = (near.astype(np.int64) << 32) | line_sku[part, None].astype(np.int64)
        _mark(offered, key, sorted_keys, wanted.ravel())
    pickup_lines = np.flatnonzero(line_pickup_location >= 0)
    wanted = (line_pickup_location[pickup_lines].astype(np.int64) << 32) | line_sku[
        pickup_lines
    ].astype(np.int64)
    _mark(offered, key, sorted_keys, wanted)
    return offered & stocked


def _mark(
    offered: np.ndarray, key: np.ndarray, sorted_keys: np.ndarray, wanted: np.ndarray
) -> None:
    if wanted.size == 0:
        return
    keys = key[sorted_keys]
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    found = keys[at] == wanted
    offered[sorted_keys[at[found]]] = True
