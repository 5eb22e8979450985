"""The greedy baseline: the sequential routing rules of commercial order management systems.

Orders are taken one at a time, most urgent first (priority, highest first; then the oldest
``placed_at``; orders without ``placed_at`` after those with; then request order). Each order goes

1. to the nearest eligible location that can serve it complete: every line in full from its
   remaining stock, with a shipment and enough units left under ``max_shipments``/``max_units``;
2. otherwise, where ``allow_split`` is true, line by line to the nearest locations with stock,
   within their capacities; an ``allow_partial`` false order that ends up short is rolled back;
3. otherwise (``allow_split`` false) to the single location that serves the most units, if
   ``allow_partial`` is true; an all-or-nothing order that no single location completes gets nothing.

Stock and capacities taken by an order are gone for the orders after it. That is the whole policy,
and its weakness the optimiser is measured against: no order ever gives way to another.

The candidates (eligible (line, location) pairs with stock, from :mod:`engine.problem`) are sorted
by distance once with numpy; the loop over orders then works on plain Python lists, which for the
handful of lines and locations an order touches is several times faster than numpy calls per order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.problem import UNLIMITED, IntArray, ProblemData

# Remaining capacity of a location without a limit: larger than any batch can consume.
_NO_LIMIT = 1 << 62
# Larger than any great-circle distance (half the Earth's circumference is about 20,015 km).
_ORDER_STRIDE_KM = 32_768.0


def order_sequence(data: ProblemData) -> IntArray:
    """Order indices in the sequence the greedy serves them: priority, then age, then request order.

    Orders without ``placed_at`` come after the dated ones of the same priority.
    """
    placed_at = data.order_placed_at
    undated = np.isnan(placed_at)
    # np.lexsort sorts by the last key first.
    return np.lexsort(
        (
            np.arange(data.n_orders),
            np.where(undated, 0.0, placed_at),
            undated,
            -data.order_priority,
        )
    ).astype(np.int64)


def greedy_allocate(data: ProblemData) -> IntArray:
    """Allocate by the greedy rules above.

    Takes the problem data of a validated request; returns the allocation: an int64 array of
    length ``data.n_candidates`` with the units each candidate (line, location) gets. The
    allocation respects every rule of the contract (stock, line quantities, eligibility, split,
    all-or-nothing, location capacities). Never raises on valid data.
    """
    n_candidates = data.n_candidates
    allocation = np.zeros(n_candidates, dtype=np.int64)
    if n_candidates == 0:
        return allocation

    candidate_order = data.line_order[data.candidate_line]
    pair_rank = _pair_rank_by_distance(data)
    candidate_rank = pair_rank[data.candidate_pair]
    # Candidates by (order, distance, location, line): an order's locations nearest first, each
    # location's candidates (one per line of the order it stocks) together. Single int64 keys:
    # one argsort is several times faster than np.lexsort over the separate columns.
    by_pair = np.argsort(candidate_rank * max(data.n_lines, 1) + data.candidate_line)
    # Candidates by (line, distance, location): a line's sources nearest first, for splitting.
    by_line = np.argsort(data.candidate_line * max(data.n_pairs, 1) + candidate_rank)
    del candidate_rank

    # Columns in those two sequences. int32 halves the memory at 200k orders (tens of millions of
    # candidates); inventory rows, lines and locations all number far below 2**31.
    bp_line = data.candidate_line[by_pair].astype(np.int32)
    bp_location = data.candidate_location[by_pair].astype(np.int32)
    bp_inventory = data.candidate_inventory[by_pair].astype(np.int32)
    bl_location = data.candidate_location[by_line].astype(np.int32)
    bl_inventory = data.candidate_inventory[by_line].astype(np.int32)

    # Runs of equal (order, location) in by_pair: one run per pair, in the order's distance order.
    pair_sorted = data.candidate_pair[by_pair]
    run_starts = np.flatnonzero(np.r_[True, pair_sorted[1:] != pair_sorted[:-1]])
    del pair_sorted
    run_bounds = np.r_[run_starts, n_candidates].astype(np.int64)
    runs_per_order = np.bincount(candidate_order[by_pair[run_starts]], minlength=data.n_orders)
    order_run_start = _offsets(runs_per_order).tolist()
    order_cand_start = _offsets(np.bincount(candidate_order, minlength=data.n_orders)).tolist()
    del candidate_order
    line_cand_start = _offsets(np.bincount(data.candidate_line, minlength=data.n_lines))
    order_line_start = data.order_line_slices().tolist()

    units_per_order = np.bincount(
        data.line_order, weights=data.line_quantity, minlength=data.n_orders
    ).astype(np.int64)
    # Orders with two lines of one sku draw on the same inventory row twice; they take the slower
    # path that sums demand per row.
    line_key = data.line_order * max(len(data.sku_ids), 1) + data.line_sku
    _, first_line = np.unique(line_key, return_index=True)
    repeated_sku = np.bincount(data.line_order[first_line], minlength=data.n_orders) < np.bincount(
        data.line_order, minlength=data.n_orders
    )

    # Plain lists for the loop: scalar indexing of a list is far cheaper than of an ndarray. The
    # per-candidate columns are big, so they become lists one order's slice at a time.
    stock = data.inventory_quantity.tolist()
    ships_left = np.where(
        data.location_max_shipments == UNLIMITED, _NO_LIMIT, data.location_max_shipments
    ).tolist()
    units_left = np.where(
        data.location_max_units == UNLIMITED, _NO_LIMIT, data.location_max_units
    ).tolist()
    line_quantity = data.line_quantity.tolist()
    units_per_order_l = units_per_order.tolist()
    allow_split = data.order_allow_split.tolist()
    allow_partial = data.order_allow_partial.tolist()
    repeated = repeated_sku.tolist()
    # Units taken, by position in by_pair (whole-location paths) and in by_line (split path).
    taken_by_pair: dict[int, int] = {}
    taken_by_line: dict[int, int] = {}

    for order in order_sequence(data).tolist():
        c0, c1 = order_cand_start[order], order_cand_start[order + 1]
        if c0 == c1:
            continue  # no eligible location holds any of its skus
        first_line_i, end_line_i = order_line_start[order], order_line_start[order + 1]
        n_lines = end_line_i - first_line_i
        order_units = units_per_order_l[order]
        bounds = [
            b - c0
            for b in run_bounds[order_run_start[order] : order_run_start[order + 1] + 1].tolist()
        ]
        lines = bp_line[c0:c1].tolist()
        locations = bp_location[c0:c1].tolist()
        rows = bp_inventory[c0:c1].tolist()
        n_runs = len(bounds) - 1

        # 1. The nearest location that serves the whole order.
        complete_run = -1
        for run in range(n_runs):
            lo, hi = bounds[run], bounds[run + 1]
            if hi - lo != n_lines:
                continue  # the location lacks one of the skus altogether
            location = locations[lo]
            if ships_left[location] < 1 or units_left[location] < order_units:
                continue
            if repeated[order]:
                demand: dict[int, int] = {}
                for k in range(lo, hi):
                    demand[rows[k]] = demand.get(rows[k], 0) + line_quantity[lines[k]]
                if all(stock[row] >= need for row, need in demand.items()):
                    complete_run = run
                    break
            else:
                for k in range(lo, hi):
                    if stock[rows[k]] < line_quantity[lines[k]]:
                        break
                else:
                    complete_run = run
                    break

        if complete_run >= 0:
            lo, hi = bounds[complete_run], bounds[complete_run + 1]
            location = locations[lo]
            for k in range(lo, hi):
                quantity = line_quantity[lines[k]]
                stock[rows[k]] -= quantity
                taken_by_pair[c0 + k] = quantity
            ships_left[location] -= 1
            units_left[location] -= order_units
            continue

        if allow_split[order]:
            # 2. Line by line from the nearest locations with stock.
            s0 = int(line_cand_start[first_line_i])
            line_bounds = [b - s0 for b in line_cand_start[first_line_i : end_line_i + 1].tolist()]
            split_locations = bl_location[s0 : s0 + line_bounds[-1]].tolist()
            split_rows = bl_inventory[s0 : s0 + line_bounds[-1]].tolist()
            order_taken: list[tuple[int, int]] = []
            used: set[int] = set()
            filled = 0
            for j in range(n_lines):
                need = line_quantity[first_line_i + j]
                for k in range(line_bounds[j], line_bounds[j + 1]):
                    location = split_locations[k]
                    row = split_rows[k]
                    units = min(need, stock[row], units_left[location])
                    if units <= 0:
                        continue
                    if location not in used:
                        if ships_left[location] < 1:
                            continue
                        ships_left[location] -= 1
                        used.add(location)
                    stock[row] -= units
                    units_left[location] -= units
                    order_taken.append((k, units))
                    need -= units
                    if need == 0:
                        break
                filled += line_quantity[first_line_i + j] - need
            if filled < order_units and not allow_partial[order]:
                # All or nothing: give everything back.
                for k, units in order_taken:
                    stock[split_rows[k]] += units
                    units_left[split_locations[k]] += units
                for location in used:
                    ships_left[location] += 1
                continue
            for k, units in order_taken:
                taken_by_line[s0 + k] = units
            continue

        if not allow_partial[order]:
            continue  # 3. no split, all or nothing, and no single location completes it

        # 3. No split: the single location that serves the most units (the nearest on ties).
        best_run, best_units = -1, 0
        for run in range(n_runs):
            lo, hi = bounds[run], bounds[run + 1]
            location = locations[lo]
            if ships_left[location] < 1:
                continue
            left: dict[int, int] = {}  # a row shared by two lines of the order is shared
            servable = 0
            for k in range(lo, hi):
                available = left.get(rows[k], stock[rows[k]])
                units = min(line_quantity[lines[k]], available)
                left[rows[k]] = available - units
                servable += units
            servable = min(servable, units_left[location])
            if servable > best_units:
                best_run, best_units = run, servable
        if best_run < 0:
            continue
        lo, hi = bounds[best_run], bounds[best_run + 1]
        location = locations[lo]
        ships_left[location] -= 1
        for k in range(lo, hi):
            units = min(line_quantity[lines[k]], stock[rows[k]], units_left[location])
            if units <= 0:
                continue
            stock[rows[k]] -= units
            units_left[location] -= units
            taken_by_pair[c0 + k] = units

    for sequence, taken in ((by_pair, taken_by_pair), (by_line, taken_by_line)):
        if taken:
            positions = np.fromiter(taken.keys(), np.int64, len(taken))
            allocation[sequence[positions]] = np.fromiter(taken.values(), np.int64, len(taken))
    return allocation


def _offsets(counts: npt.NDArray[np.int64]) -> IntArray:
    """Start offsets of consecutive groups of the given sizes, plus the end (length n + 1)."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _pair_rank_by_distance(data: ProblemData) -> IntArray:
    """Rank of each pair when pairs are sorted by (order, distance, location).

    The pairs come sorted by (order, location); a stable sort on order plus distance (no distance
    on Earth reaches _ORDER_STRIDE_KM, so orders never mix) keeps location order on ties.
    """
    key = data.pair_order * _ORDER_STRIDE_KM + data.pair_distance_km
    if data.n_pairs > 1 and not np.all(
        np.diff(data.pair_order * max(data.n_locations, 1) + data.pair_location) > 0
    ):
        sequence = np.lexsort((data.pair_location, data.pair_distance_km, data.pair_order))
    else:
        sequence = np.argsort(key, kind="stable")
    rank = np.empty(data.n_pairs, dtype=np.int64)
    rank[sequence] = np.arange(data.n_pairs, dtype=np.int64)
    return rank
