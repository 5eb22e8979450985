"""Why a line misses units: one reason from the closed list of :class:`UnallocatedReason`.

The diagnosis reads the final allocation, not the solver's internals, so the optimiser and the
greedy baseline are explained the same way. Per line, the first rule that applies wins:

1. its eligible locations never held the sku: ``no_eligible_location`` when the sku is stocked
   elsewhere, otherwise ``out_of_stock``;
2. its eligible locations held fewer units than it asks for: ``out_of_stock``;
3. units are still left where it could take them: ``all_or_nothing`` (its order got nothing),
   ``cannot_split`` (its order may use one location), ``capacity`` (every location with units
   left is at ``max_units`` or ``max_shipments``), else ``time_limit`` (a proven optimum never
   leaves such units);
4. every eligible unit was taken: ``outranked`` when a higher priority took some of them, else
   ``allocated_to_other_orders``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.problem import UNLIMITED, IntArray, ProblemData
from models.solve import UnallocatedReason as Reason


def unallocated_reasons(
    data: ProblemData, x: IntArray, line_units: IntArray, *, proven: bool
) -> tuple[IntArray, list[Reason]]:
    """Lines that miss units and the reason for each. Returns (line indices, reasons).

    Only the candidates of the short lines and the served ones are read: at the largest batches
    they are a small part of tens of millions."""
    short = np.flatnonzero(line_units < data.line_quantity)
    if short.size == 0:
        return short, []

    served = np.flatnonzero(x)
    served_units = x[served]
    mine = data.candidates_of_lines(short)  # the short lines' candidates
    mine_line = data.candidate_line[mine]
    mine_row = data.candidate_inventory[mine]
    mine_location = data.candidate_location[mine]

    remaining = data.inventory_quantity - np.bincount(
        data.candidate_inventory[served],
        weights=served_units,
        minlength=data.inventory_quantity.size,
    ).astype(np.int64)
    candidate_left = remaining[mine_row]
    eligible_stock = _per_line(data, mine_line, data.inventory_quantity[mine_row])
    sku_stock = np.bincount(
        data.inventory_sku, weights=data.inventory_quantity, minlength=len(data.sku_ids)
    )

    order_units = np.bincount(data.line_order, weights=line_units, minlength=data.n_orders)
    pair_units = np.bincount(
        data.candidate_pair[served], weights=served_units, minlength=data.n_pairs
    )

    # A location is full when its units are spent, or its shipments are and this order has
    # no shipment from it yet.
    location_units = np.bincount(
        data.candidate_location[served], weights=served_units, minlength=data.n_locations
    )
    location_shipments = np.bincount(
        data.pair_location[np.flatnonzero(pair_units)], minlength=data.n_locations
    )
    units_full = (data.location_max_units != UNLIMITED) & (
        location_units >= data.location_max_units
    )
    shipments_full = (data.location_max_shipments != UNLIMITED) & (
        location_shipments >= data.location_max_shipments
    )
    candidate_blocked = units_full[mine_location] | (
        shipments_full[mine_location] & (pair_units[data.candidate_pair[mine]] == 0)
    )
    left_open = _per_line(data, mine_line, candidate_left * ~candidate_blocked)
    left_any = _per_line(data, mine_line, candidate_left)

    taken_by_higher, taken_by_other = _taken_by_others(data, x, served, mine)

    reasons: list[Reason] = []
    for line in short.tolist():
        order = int(data.line_order[line])
        if eligible_stock[line] == 0:
            stocked_elsewhere = sku_stock[data.line_sku[line]] > 0
            reasons.append(
                Reason.NO_ELIGIBLE_LOCATION if stocked_elsewhere else Reason.OUT_OF_STOCK
            )
        elif eligible_stock[line] < data.line_quantity[line]:
            reasons.append(Reason.OUT_OF_STOCK)
        elif left_any[line] > 0:
            if not data.order_allow_partial[order] and order_units[order] == 0:
                reasons.append(Reason.ALL_OR_NOTHING)
            elif not data.order_allow_split[order]:
                reasons.append(Reason.CANNOT_SPLIT)
            elif left_open[line] == 0:
                reasons.append(Reason.CAPACITY)
            else:
                reasons.append(Reason.TIME_LIMIT if not proven else Reason.CAPACITY)
        elif taken_by_higher[line]:
            reasons.append(Reason.OUTRANKED)
        elif taken_by_other[line]:
            reasons.append(Reason.ALLOCATED_TO_OTHER_ORDERS)
        else:
            reasons.append(Reason.OUT_OF_STOCK)
    return short, reasons


def _per_line(
    data: ProblemData, line: IntArray, candidate_values: npt.NDArray[np.generic]
) -> IntArray:
    """Per line, the sum of its candidates' values (``line``: each candidate's line)."""
    return np.bincount(line, weights=candidate_values, minlength=data.n_lines).astype(np.int64)


def _taken_by_others(
    data: ProblemData, x: IntArray, served: IntArray, mine: IntArray
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per line of the candidates ``mine``: did a higher-priority line, or any other line, take
    units from its eligible inventory rows? (``served``: the candidates with units.)"""
    served_at = data.candidate_inventory[served]
    n_rows = data.inventory_quantity.size
    top_priority = np.full(n_rows, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(top_priority, served_at, data.line_priority[data.candidate_line[served]])
    takers = np.bincount(served_at, minlength=n_rows)

    row = data.candidate_inventory[mine]
    line = data.candidate_line[mine]
    higher = top_priority[row] > data.line_priority[line]
    # a row whose only taker is this very line does not count as taken by another
    other = takers[row] - (x[mine] > 0) > 0
    return (
        np.bincount(line, weights=higher, minlength=data.n_lines) > 0,
        np.bincount(line, weights=other, minlength=data.n_lines) > 0,
    )
