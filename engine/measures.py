"""How good an allocation is, by the contract: units filled per priority first, then total cost.

Shared by the optimiser, its stages, the neighbourhood search and the benchmarks, so that every
one of them compares allocations the same way.
"""

from __future__ import annotations

import numpy as np

from engine.problem import BoolArray, FloatArray, IntArray, ProblemData


def relative_gap(objective: float, bound: float) -> float:
    """The relative distance between a cost and its lower bound (0 when both are 0)."""
    if objective <= 1e-9:
        return 0.0
    return max(0.0, (objective - bound) / abs(objective))


def allocation_cost(data: ProblemData, x: IntArray) -> float:
    """Total cost of an allocation: used shipments plus unit handling, unrounded."""
    pair_units = np.bincount(data.candidate_pair, weights=x, minlength=data.n_pairs)
    units_cost = float(np.dot(x, data.location_unit_cost[data.candidate_location]))
    return float(data.pair_cost[pair_units > 0].sum()) + units_cost


def line_units(data: ProblemData, x: IntArray) -> FloatArray:
    """Units allocated per line (float: summed by bincount)."""
    units = np.bincount(data.candidate_line, weights=x, minlength=data.n_lines)
    return units.astype(np.float64, copy=False)  # float already: no copy


def short_lines(data: ProblemData, x: IntArray) -> BoolArray:
    """Per line: is it left short of its quantity?"""
    return line_units(data, x) < data.line_quantity


def fill_by_priority(data: ProblemData, x: IntArray) -> dict[int, int]:
    """Units allocated per priority, for every priority of the batch."""
    units = line_units(data, x)
    priority = data.line_priority
    return {p: round(units[priority == p].sum()) for p in data.priorities}


def fill_upper_bounds(data: ProblemData) -> dict[int, int]:
    """Per priority, the units it could get if no other priority existed and nothing bound but
    line quantities and stock: ``sum over lines of min(quantity, eligible stock)``."""
    eligible_stock = np.bincount(
        data.candidate_line,
        weights=data.inventory_quantity[data.candidate_inventory],
        minlength=data.n_lines,
    )
    reachable = np.minimum(data.line_quantity, eligible_stock)
    priority = data.line_priority
    return {p: round(reachable[priority == p].sum()) for p in data.priorities}


def lexicographically_better(
    data: ProblemData, a: IntArray, b: IntArray, *, tolerance: float = 1e-6
) -> bool:
    """True when allocation ``a`` beats ``b`` by the contract: fill per priority, then cost."""
    fill_a, fill_b = fill_by_priority(data, a), fill_by_priority(data, b)
    for priority in data.priorities:
        if fill_a[priority] != fill_b[priority]:
            return fill_a[priority] > fill_b[priority]
    return allocation_cost(data, a) < allocation_cost(data, b) - tolerance


def lexicographic_key(data: ProblemData, x: IntArray) -> tuple[float, ...]:
    """A sort key: the lexicographically best allocation sorts first."""
    fill = fill_by_priority(data, x)
    return (*(-fill[p] for p in data.priorities), allocation_cost(data, x))
