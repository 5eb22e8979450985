"""A brokering run's ledger side: the queue and a snapshot in, one solve response out; and, at
commit, what the stock at that moment still covers.

The whole queue goes in one solve request: a location that rejected an order, or that an order
that may not split is already held at, is named in the order's ``exclude_location_ids`` (solve
contract), and the engine honours it. Every stocked row of the skus the queue asks for is
offered: nothing is pruned, so the fill the solve contract promises is the fill of the run.

The run solves on a snapshot while the ledger keeps applying events and feeds, so at commit
:func:`cut_back` takes the allocations, most urgent order first, as far as the ATP at commit and
each line's open units still cover them; what it cuts stays queued for the next run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from models.solve import Location, Order, Policy, SolveRequest
from models.summary import response_summary

SolveFunction = Callable[[SolveRequest], dict[str, Any]]


@dataclass(frozen=True)
class QueuedOrder:
    """An order of the queue as the solve contract's JSON (its lines: what is still open), and
    the locations it must never be served from again."""

    order: dict[str, Any]
    excluded_location_ids: frozenset[str] = field(default_factory=frozenset)


class OfferedRow(NamedTuple):
    """One inventory row of a run's request: the ATP of a (location, sku) in the snapshot.

    Rows come from the ledger, which keeps every quantity within the contract's limits, so they
    are not validated again: a plain tuple per row costs a tenth of a model object, and a run
    over a large network offers millions of them."""

    location_id: str
    sku: str
    quantity: int


def build_request(
    locations: list[dict[str, Any]],
    inventory: list[OfferedRow],
    queue: Sequence[QueuedOrder],
    policy: dict[str, Any] | None,
) -> tuple[SolveRequest, list[dict[str, Any]]]:
    """The run's one solve request, and the unallocated lines of orders nothing can serve (a
    pickup order whose store rejected it or closed). Locations and orders are validated by the
    contract's schemas; an exclusion of a location no longer active is dropped (it serves
    nothing anyway)."""
    active = {loc["id"] for loc in locations}
    pickup_ok = {loc["id"] for loc in locations if _serves_pickup(loc)}
    orders: list[Order] = []
    unservable: list[dict[str, Any]] = []
    for queued in queue:
        order = queued.order
        excluded = queued.excluded_location_ids & active
        if order["delivery"] == "pickup" and (
            order.get("pickup_location_id") not in pickup_ok
            or order.get("pickup_location_id") in excluded
        ):
            unservable.extend(
                {"order_id": order["id"], "line_id": line["id"], "quantity": line["quantity"],
                 "reason": "no_eligible_location"}
                for line in order["lines"]
            )  # fmt: skip
            continue
        orders.append(Order.model_validate({**order, "exclude_location_ids": sorted(excluded)}))
    request = SolveRequest.model_construct(
        locations=[Location.model_validate(loc) for loc in locations],
        inventory=inventory,  # type: ignore[arg-type]  # OfferedRow: the fields of InventoryRow
        orders=orders,
        policy=Policy.model_validate(policy or {}),
    )
    return request, unservable


def broker(
    locations: list[dict[str, Any]],
    inventory: list[OfferedRow],
    queue: Sequence[QueuedOrder],
    policy: dict[str, Any] | None,
    solve: SolveFunction,
) -> dict[str, Any]:
    """Broker the whole queue against ``inventory`` (the ATP rows of a snapshot) in one solve
    request; returns the solve response, plus the lines nothing could serve as unallocated.

    Raises :class:`pydantic.ValidationError` if a queued order no longer fits the schema."""
    request, unservable = build_request(locations, inventory, queue, policy)
    response = solve(request) if request.orders else empty_response()
    response["unallocated"] = [*response["unallocated"], *unservable]
    response["summary"] = summarise([q.order for q in queue], response)
    response["solver"]["requests"] = 1 if request.orders else 0
    return response


def empty_response() -> dict[str, Any]:
    return {
        "allocations": [], "unallocated": [], "remaining": [], "shipments": [],
        "summary": {"total_cost": 0.0},
        "solver": {"name": "omnibroker/none", "status": "optimal", "objective": 0.0,
                   "bound": 0.0, "gap": 0.0, "seconds": 0.0},
    }  # fmt: skip


def _serves_pickup(location: dict[str, Any]) -> bool:
    pickup = location.get("pickup")
    return pickup if pickup is not None else location["kind"] == "store"


# --- the commit -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitState:
    """What the ledger holds at a run's commit for the orders and positions the run allocated.

    ``atp``: per (location, sku) the ATP now; ``open_units``: per (order, line) the units still to
    allocate (0 once the order left the queue); ``allowed``: per order the locations it may still
    be served from (None: any); ``all_or_nothing``: orders that may not be served in part;
    ``rank``: the queue's order, most urgent first."""

    atp: Mapping[tuple[str, str], int]
    open_units: Mapping[tuple[str, str], int]
    allowed: Mapping[str, frozenset[str] | None]
    all_or_nothing: frozenset[str]
    rank: Mapping[str, int]


def cut_back(
    allocations: list[dict[str, Any]], line_sku: Mapping[tuple[str, str], str], state: CommitState
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The allocations the ledger still covers at commit, and what is cut (same shape; the cut
    units stay queued). Most urgent orders first, each allocation takes what the position's ATP
    and its line's open units leave; an order that may not be served in part loses all of its
    allocations if any is cut, and the units it gives back go to the orders after it."""
    ordered = sorted(
        allocations, key=lambda a: (state.rank.get(a["order_id"], len(state.rank)), a["order_id"])
    )
    dropped: set[str] = set()
    while True:
        kept, cut = _take(ordered, line_sku, state, dropped)
        broken = {c["order_id"] for c in cut if c["order_id"] in state.all_or_nothing} - dropped
        if not broken:
            return kept, cut
        dropped |= broken


def _take(
    ordered: list[dict[str, Any]],
    line_sku: Mapping[tuple[str, str], str],
    state: CommitState,
    dropped: set[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    atp = dict(state.atp)
    open_units = dict(state.open_units)
    kept: list[dict[str, Any]] = []
    cut: list[dict[str, Any]] = []
    for allocation in ordered:
        order_id, line_id = allocation["order_id"], allocation["line_id"]
        location = allocation["location_id"]
        position = (location, line_sku[(order_id, line_id)])
        allowed = state.allowed.get(order_id)
        may = order_id not in dropped and (allowed is None or location in allowed)
        take = (
            min(
                allocation["quantity"], atp.get(position, 0), open_units.get((order_id, line_id), 0)
            )
            if may
            else 0
        )
        take = max(take, 0)
        if take:
            atp[position] -= take
            open_units[(order_id, line_id)] -= take
            kept.append({**allocation, "quantity": take})
        if take < allocation["quantity"]:
            cut.append({**allocation, "quantity": allocation["quantity"] - take})
    return kept, cut


def remaining_after(
    kept: list[dict[str, Any]],
    line_sku: Mapping[tuple[str, str], str],
    atp: Mapping[tuple[str, str], int],
) -> list[dict[str, Any]]:
    """The ATP each position the run allocated from keeps after the run's commit (rows in the
    solve contract's ``remaining`` shape, in the order first allocated)."""
    left: dict[tuple[str, str], int] = {}
    for a in kept:
        position = (a["location_id"], line_sku[(a["order_id"], a["line_id"])])
        left[position] = left.get(position, atp.get(position, 0)) - a["quantity"]
    return [{"location_id": loc, "sku": sku, "quantity": q} for (loc, sku), q in left.items()]


def apply_cut(
    response: dict[str, Any],
    kept: list[dict[str, Any]],
    cut: list[dict[str, Any]],
    unit_cost: Mapping[str, float],
    orders: list[dict[str, Any]],
) -> dict[str, Any]:
    """The run's response after the commit's cut: kept allocations; the cut units unallocated
    (``out_of_stock``: the stock at commit no longer covered them) and listed in ``cut_back``
    (an extension); shipments with no unit left dropped; the summary and cost recounted."""
    if not cut:
        return {**response, "cut_back": []}
    served = {(a["order_id"], a["location_id"]) for a in kept}
    shipments = [s for s in response["shipments"] if (s["order_id"], s["location_id"]) in served]
    dropped_cost = sum(
        s["cost"] for s in response["shipments"] if (s["order_id"], s["location_id"]) not in served
    )
    cut_cost = sum(c["quantity"] * unit_cost.get(c["location_id"], 0.0) for c in cut)
    per_line: dict[tuple[str, str], int] = defaultdict(int)
    for c in cut:
        per_line[(c["order_id"], c["line_id"])] += c["quantity"]
    out = {
        **response,
        "allocations": kept,
        "shipments": shipments,
        "unallocated": [
            *response["unallocated"],
            *(
                {"order_id": o, "line_id": line, "quantity": q, "reason": "out_of_stock"}
                for (o, line), q in per_line.items()
            ),
        ],
        "cut_back": cut,
    }
    out["summary"] = summarise(
        orders, out, total_cost=response["summary"]["total_cost"] - dropped_cost - cut_cost
    )
    return out


def summarise(
    orders: list[dict[str, Any]], response: dict[str, Any], total_cost: float | None = None
) -> dict[str, Any]:
    """The response's summary over the queue's orders (those a request left out included)."""
    allocated: dict[str, int] = defaultdict(int)
    for allocation in response["allocations"]:
        allocated[allocation["order_id"]] += allocation["quantity"]
    shipments: dict[str, int] = defaultdict(int)
    for shipment in response["shipments"]:
        shipments[shipment["order_id"]] += 1
    return response_summary(
        order_requested=np.array(
            [sum(line["quantity"] for line in order["lines"]) for order in orders], dtype=np.int64
        ),
        order_allocated=np.array([allocated[order["id"]] for order in orders], dtype=np.int64),
        order_priority=np.array([order.get("priority", 0) for order in orders], dtype=np.int64),
        order_shipments=np.array([shipments[order["id"]] for order in orders], dtype=np.int64),
        total_cost=response["summary"]["total_cost"] if total_cost is None else total_cost,
    )
