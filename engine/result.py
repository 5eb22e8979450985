"""An allocation written as the contract's response: ids come back only here.

Money and distances are summed unrounded, then rounded to 2 decimals, as the contract says.
Rows are plain dicts built column-wise from the arrays, so a batch of 200k orders is written
without a pydantic object per row; :class:`models.solve.SolveResponse` describes the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.problem import IntArray, ProblemData
from engine.reasons import unallocated_reasons
from models.summary import response_summary


@dataclass(frozen=True)
class SolverInfo:
    """How the allocation was found, whatever the backend: the response's ``solver`` block."""

    name: str
    optimal: bool
    objective: float
    bound: float
    gap: float
    seconds: float
    strategy: str


def build_response(
    data: ProblemData,
    x: IntArray,
    solver: SolverInfo,
    explanations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response for allocation ``x`` (units per candidate) of problem ``data``; with
    ``explanations`` (:func:`engine.explain.explain`), written as the response's extension."""
    x = np.asarray(x, dtype=np.int64)
    served = np.flatnonzero(x > 0)
    # Sums over the served candidates only: the same sums (the others add 0), without a float
    # copy of x and a gather per candidate (288 MB each at 36M candidates).
    units = x[served]
    line_units = np.bincount(
        data.candidate_line[served], weights=units, minlength=data.n_lines
    ).astype(np.int64)
    pair_units = np.bincount(data.candidate_pair[served], weights=units, minlength=data.n_pairs)
    used_pairs = np.flatnonzero(pair_units > 0)
    del pair_units
    allocated_per_row = np.bincount(
        data.candidate_inventory[served], weights=units, minlength=data.inventory_quantity.size
    ).astype(np.int64)

    order_ids, line_ids, location_ids = data.order_ids, data.line_ids, data.location_ids
    allocations = [
        {
            "order_id": order_ids[order],
            "line_id": line_ids[line],
            "location_id": location_ids[location],
            "quantity": quantity,
        }
        for order, line, location, quantity in zip(
            data.line_order[data.candidate_line[served]].tolist(),
            data.candidate_line[served].tolist(),
            data.candidate_location[served].tolist(),
            units.tolist(),
            strict=True,
        )
    ]

    short_lines, reasons = unallocated_reasons(data, x, line_units, proven=solver.optimal)
    unallocated = [
        {
            "order_id": order_ids[data.line_order[line]],
            "line_id": line_ids[line],
            "quantity": missing,
            "reason": reason.value,
        }
        for line, missing, reason in zip(
            short_lines.tolist(),
            (data.line_quantity[short_lines] - line_units[short_lines]).tolist(),
            reasons,
            strict=True,
        )
    ]

    remaining = _remaining_rows(data, data.inventory_quantity - allocated_per_row)
    del allocated_per_row

    shipment_cost = data.pair_cost[used_pairs]
    shipments = [
        {
            "order_id": order_ids[order],
            "location_id": location_ids[location],
            "distance_km": round(distance, 2),
            "cost": round(cost, 2),
        }
        for order, location, distance, cost in zip(
            data.pair_order[used_pairs].tolist(),
            data.pair_location[used_pairs].tolist(),
            data.pair_distance_km[used_pairs].tolist(),
            shipment_cost.tolist(),
            strict=True,
        )
    ]

    # Over the served candidates only: the others add 0.
    units_cost = float(np.dot(units, data.location_unit_cost[data.candidate_location[served]]))
    total_cost = float(shipment_cost.sum()) + units_cost
    summary = response_summary(
        order_requested=np.bincount(
            data.line_order, weights=data.line_quantity, minlength=data.n_orders
        ),
        order_allocated=np.bincount(data.line_order, weights=line_units, minlength=data.n_orders),
        order_priority=data.order_priority,
        order_shipments=np.bincount(data.pair_order[used_pairs], minlength=data.n_orders),
        total_cost=total_cost,
    )
    response = {
        "allocations": allocations,
        "unallocated": unallocated,
        "remaining": remaining,
        "shipments": shipments,
        "summary": summary,
        "solver": {
            "name": solver.name,
            "status": "optimal" if solver.optimal else "feasible",
            "objective": round(total_cost, 2),
            "bound": round(min(solver.bound, total_cost), 2),
            "gap": round(solver.gap, 6),
            "seconds": round(solver.seconds, 3),
            "strategy": solver.strategy,
        },
    }
    if explanations is not None:
        response["explanations"] = explanations
    return response


def _remaining_rows(data: ProblemData, quantity: IntArray) -> list[dict[str, Any]]:
    """One row per inventory row, its quantity left. The ids are gathered as object arrays
    (references to the same strings, in C) rather than looked up row by row in Python: this
    list has a row per inventory row, millions at a national network's morning run."""
    location_ids = np.array(data.location_ids, dtype=object)[data.inventory_location].tolist()
    sku_ids = np.array(data.sku_ids, dtype=object)[data.inventory_sku].tolist()
    return [
        {"location_id": location_id, "sku": sku, "quantity": left}
        for location_id, sku, left in zip(location_ids, sku_ids, quantity.tolist(), strict=True)
    ]
