"""A proven lower bound on the cost at a fill in one pass over the candidates, for batches too
large for the relaxation's master (:mod:`engine.bound`) and beside it when its rounds were cut
short: the one-pass bound.

It drops what couples orders (stock, capacities) and what couples an order's lines (no-split,
all-or-nothing), and shares each shipment's cost among the lines that could use it. About 6%
below the LP at M, linear in the candidates. For an order served whole from one location that
is the cheapest for each of its lines, it is the allocation's cost: what lets most of a
checkout's single orders be answered `optimal` without a model (:mod:`engine.solve`).

**Priced**: given the relaxation's duals of the stock and capacity rows (any master's, any
round's), those rows are relaxed the Lagrangian way instead of dropped: each unit costs what
its stock row and location are worth besides, each shipment what its location's shipments
are worth, and the rows' duals times their bounds are added (a negative constant). Valid for
any duals of the right signs, like the relaxation's own Lagrangian bound, but it keeps each
line to its quantity, which that bound relaxes: at a master's first rounds, when the
Lagrangian is far below the master (M-seed3 at the floor: -29,809 and 37,825 against the
master's 92,839 and 92,132), the priced one-pass bound is 88,184 and 88,435, above the plain
one's 84,127; the converged LP (91,273) is above it again.
"""

from __future__ import annotations

import itertools

import numpy as np

from engine.bound import Duals, RowPrices
from engine.measures import fill_by_priority
from engine.problem import FloatArray, IntArray, ProblemData


def line_bound(
    data: ProblemData,
    x: IntArray,
    *,
    duals: Duals | None = None,
    chunk_lines: int = 200_000,
) -> float:
    """A proven lower bound on the cost at ``x``'s fill, in one pass over the candidates: for
    batches too large for the relaxation's master, and priced by a master's ``duals`` (see
    the module) beside one cut short.

    Stock, capacities, no-split and all-or-nothing are relaxed (dropping rows only lowers the
    least cost), and a shipment's cost is shared among the lines that could use it: a candidate
    costs ``unit_cost + pair_cost / (lines at the pair * most units)`` per unit, never more than
    its share of what the allocation pays. What is left is a knapsack per priority whose optimum
    is the sum of the ``F_p`` cheapest units the lines offer, each line at most its quantity.
    Weaker than the LP's (about 6% below it at M) but linear in the candidates.
    """
    fill = fill_by_priority(data, x)
    if data.n_candidates == 0:
        return 0.0
    lines_at_pair = np.bincount(data.candidate_pair, minlength=data.n_pairs)
    location_unit_cost = data.location_unit_cost.astype(np.float64)
    pair_cost = data.pair_cost.astype(np.float64)
    constant = 0.0
    prices = RowPrices.of(data, duals) if duals is not None else None
    if prices is not None:
        location_unit_cost = location_unit_cost - prices.units
        pair_cost = pair_cost - prices.ships[data.pair_location]
        constant = prices.constant
    costs: dict[int, list[FloatArray]] = {p: [] for p in data.priorities}
    units: dict[int, list[FloatArray]] = {p: [] for p in data.priorities}
    # candidates come grouped by line (built line by line), so lines are cut in chunks
    line_start = np.searchsorted(data.candidate_line, np.arange(0, data.n_lines + 1, chunk_lines))
    line_start = np.append(line_start, data.n_candidates)
    for begin, end in itertools.pairwise(line_start.tolist()):
        if begin == end:
            continue
        unit_cost = location_unit_cost[data.candidate_location[begin:end]]
        if prices is not None:
            unit_cost = unit_cost - prices.stock[data.candidate_inventory[begin:end]]
        per_unit, slot, line = _cheapest_units(
            data, unit_cost, pair_cost, lines_at_pair, begin, end
        )
        priority = data.line_priority[line]
        for p in data.priorities:
            keep = (priority == p) & (slot > 0)
            costs[p].append(per_unit[keep])
            units[p].append(slot[keep])
    bound = constant
    for p, needed in fill.items():
        if not costs[p] or needed <= 0:
            continue
        cost, offered = np.concatenate(costs[p]), np.concatenate(units[p])
        order = np.argsort(cost, kind="stable")
        cost, offered = cost[order], offered[order]
        before = np.cumsum(offered) - offered
        bound += float(cost @ np.clip(np.minimum(offered, needed - before), 0.0, None))
    return bound


def _cheapest_units(
    data: ProblemData,
    unit_cost: FloatArray,
    pair_cost: FloatArray,
    lines_at_pair: IntArray,
    begin: int,
    end: int,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """The cheapest units each line of candidates ``begin:end`` (whole lines) could take, up to
    its quantity: (cost per unit, units, line) per slot. ``unit_cost``: per candidate of the
    range, ``pair_cost`` per pair.

    Most lines' cheapest candidate alone holds their quantity: one slot each, found with a
    minimum per line, no sort. The others' candidates are sorted by cost within the line and
    each takes what the cheaper ones left."""
    upper = data.candidate_upper[begin:end].astype(np.float64)
    pair = data.candidate_pair[begin:end]
    per_unit = unit_cost + pair_cost[pair] / (lines_at_pair[pair] * np.maximum(upper, 1.0))
    line = data.candidate_line[begin:end].astype(np.int64)
    starts = np.flatnonzero(np.concatenate([[True], line[1:] != line[:-1]]))
    counts = np.diff(np.append(starts, line.size))
    cheapest = np.minimum.reduceat(per_unit, starts)
    at_cheapest = per_unit == np.repeat(cheapest, counts)
    most_there = np.maximum.reduceat(np.where(at_cheapest, upper, 0.0), starts)
    segment_line = line[starts]
    quantity = data.line_quantity[segment_line].astype(np.float64)
    held = most_there >= quantity  # the cheapest candidate covers the whole line
    # the other lines: every candidate, sorted by cost within its line
    rest = np.repeat(~held, counts)
    rest_line, rest_upper, rest_cost = line[rest], upper[rest], per_unit[rest]
    order = np.lexsort((rest_cost, rest_line))
    rest_line, rest_upper, rest_cost = rest_line[order], rest_upper[order], rest_cost[order]
    taken = np.cumsum(rest_upper)
    first = np.searchsorted(rest_line, rest_line)  # each line's first position
    before = taken - rest_upper - np.where(first > 0, taken[np.maximum(first - 1, 0)], 0.0)
    rest_slot = np.clip(np.minimum(rest_upper, data.line_quantity[rest_line] - before), 0.0, None)
    return (
        np.concatenate([cheapest[held], rest_cost]),
        np.concatenate([quantity[held], rest_slot]),
        np.concatenate([segment_line[held], rest_line]),
    )
