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

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engine.problem import UNLIMITED, FloatArray, IntArray, ProblemData

# Remaining capacity of a location without a limit: larger than any batch can consume.
_NO_LIMIT = 1 << 62
# Larger than any great-circle distance (half the Earth's circumference is about 20,015 km).
_ORDER_STRIDE_KM = 32_768.0
# Candidates per numpy step where a whole-array temporary would cost hundreds of MB at 200k orders.
_CHUNK = 4_000_000


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


def greedy_allocate(
    data: ProblemData, preference: Literal["nearest", "cheapest"] = "nearest"
) -> IntArray:
    """Allocate by the greedy rules above.

    Takes the problem data of a validated request; returns the allocation: an int64 array of
    length ``data.n_candidates`` with the units each candidate (line, location) gets. The
    allocation respects every rule of the contract (stock, line quantities, eligibility, split,
    all-or-nothing, location capacities). Never raises on valid data.

    ``preference`` "nearest" (the default) is the OMS baseline the contract's ``strategy:
    "greedy"`` names. "cheapest" ranks an order's locations by what shipping the whole order
    from there would cost (shipment cost, distance and unit handling) instead of by distance:
    the same rules, a better start for the optimiser. Raises ValueError for another value.
    """
    if preference not in ("nearest", "cheapest"):
        raise ValueError(f"unknown preference {preference!r}: 'nearest' or 'cheapest'")
    n_candidates = data.n_candidates
    allocation = np.zeros(n_candidates, dtype=np.int64)
    if n_candidates == 0:
        return allocation

    # Candidates grouped by line ("line space"). The problem builder emits them so; if it ever
    # stops, one stable sort restores it.
    line_sort: IntArray | None = None
    if n_candidates > 1 and not np.all(np.diff(data.candidate_line) >= 0):
        line_sort = np.argsort(data.candidate_line, kind="stable")

    def in_line_space(column: IntArray) -> IntArray:
        return column if line_sort is None else column[line_sort]

    ls_line = in_line_space(data.candidate_line)
    ls_location = in_line_space(data.candidate_location)
    ls_inventory = in_line_space(data.candidate_inventory)
    ls_pair = in_line_space(data.candidate_pair)

    line_cand_start = _offsets(np.bincount(ls_line, minlength=data.n_lines))
    order_line_start = data.order_line_slices()
    # An order's lines are consecutive, so its candidates are one slice of line space.
    order_cand_start = line_cand_start[order_line_start].tolist()
    lines_per_order = np.diff(order_line_start)
    units_per_order = np.bincount(
        data.line_order, weights=data.line_quantity, minlength=data.n_orders
    ).astype(np.int64)
    if preference == "nearest":
        measure = data.pair_distance_km
    else:
        # The pair's cost were it to ship the whole order: shipment plus handling of every unit
        # (in place: one array per pair, not four).
        measure = units_per_order[data.pair_order].astype(np.float64)
        measure *= data.location_unit_cost[data.pair_location]
        measure += data.pair_cost
    pair_sequence, pair_rank = _pairs_ranked(data, measure)
    del measure

    # The locations that could ever serve an order complete, found once with numpy, per pair:
    # they stock every line, each from a row that held the line's quantity at the start, under a
    # unit cap (if any) that held the order's units. Stock and capacity only shrink, so step 1
    # never needs any other location; for most orders these are a handful of the hundreds.
    short_at_start = np.empty(n_candidates, dtype=bool)
    for lo in range(0, n_candidates, _CHUNK):  # in chunks: two int64 gathers of 45M cost 720 MB
        hi = lo + _CHUNK
        short_at_start[lo:hi] = (
            data.inventory_quantity[ls_inventory[lo:hi]] < data.line_quantity[ls_line[lo:hi]]
        )
    # Built term by term, each per-pair temporary dropped as soon as it is used.
    viable = np.bincount(ls_pair[short_at_start], minlength=data.n_pairs) == 0
    del short_at_start
    pair_lines = lines_per_order[data.pair_order]
    viable &= np.bincount(ls_pair, minlength=data.n_pairs) == pair_lines
    unit_cap = data.location_max_units[data.pair_location]
    viable &= (unit_cap == UNLIMITED) | (unit_cap >= units_per_order[data.pair_order])
    del unit_cap
    viable_pairs = pair_sequence[viable[pair_sequence]]  # by (order, distance, location)
    viable_orders = data.pair_order[viable_pairs]
    order_viable_start = _offsets(np.bincount(viable_orders, minlength=data.n_orders)).tolist()
    viable_location = data.pair_location[viable_pairs].astype(np.int32)
    # Their candidates packed pair after pair, line by line: a scatter, no sort. Each line has at
    # most one candidate per location (inventory rows are unique per location and sku).
    block_start = np.full(data.n_pairs, -1, dtype=np.int64)
    block_sizes = pair_lines[viable_pairs]
    block_start[viable_pairs] = _offsets(block_sizes)[:-1]
    # Positions in line space fit int32 whenever the candidates do.
    position_dtype = np.int32 if n_candidates < np.iinfo(np.int32).max else np.int64
    viable_position = np.empty(int(block_sizes.sum()), dtype=position_dtype)  # in line space
    for lo in range(0, n_candidates, _CHUNK):  # in chunks: a few int64 gathers per member
        members = lo + np.flatnonzero(viable[ls_pair[lo : lo + _CHUNK]])
        member_line = ls_line[members]
        slot = block_start[ls_pair[members]] + (
            member_line - order_line_start[data.line_order[member_line]]
        )
        viable_position[slot] = members
        del members, member_line, slot
    del block_start, viable
    # Compact where the values fit: a line may ask for more units than int32 holds.
    viable_row = ls_inventory[viable_position].astype(_compact(data.inventory_quantity.size))
    viable_quantity = data.line_quantity[ls_line[viable_position]].astype(
        _compact(int(data.line_quantity.max(initial=0)))
    )
    order_viable_cand_start = _offsets(
        np.bincount(viable_orders, weights=block_sizes, minlength=data.n_orders).astype(np.int64)
    ).tolist()
    del viable_orders, block_sizes, pair_lines

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
    order_line_start_l = order_line_start.tolist()
    units_per_order_l = units_per_order.tolist()
    allow_split = data.order_allow_split.tolist()
    allow_partial = data.order_allow_partial.tolist()
    repeated = repeated_sku.tolist()
    n_pairs = max(data.n_pairs, 1)
    taken: dict[int, int] = {}  # position in line space -> units

    for order in order_sequence(data).tolist():
        c0, c1 = order_cand_start[order], order_cand_start[order + 1]
        if c0 == c1:
            continue  # no eligible location holds any of its skus
        first_line_i = order_line_start_l[order]
        n_lines = order_line_start_l[order + 1] - first_line_i
        order_units = units_per_order_l[order]

        # 1. The nearest location that serves the whole order.
        v0, v1 = order_viable_start[order], order_viable_start[order + 1]
        if v0 < v1:
            p0, p1 = order_viable_cand_start[order], order_viable_cand_start[order + 1]
            locations = viable_location[v0:v1].tolist()
            rows = viable_row[p0:p1].tolist()
            quantities = viable_quantity[p0:p1].tolist()
            complete = -1
            for j, location in enumerate(locations):
                if ships_left[location] < 1 or units_left[location] < order_units:
                    continue
                lo = j * n_lines
                if repeated[order]:
                    demand: dict[int, int] = {}
                    for k in range(lo, lo + n_lines):
                        demand[rows[k]] = demand.get(rows[k], 0) + quantities[k]
                    if all(stock[row] >= need for row, need in demand.items()):
                        complete = j
                        break
                else:
                    for k in range(lo, lo + n_lines):
                        if stock[rows[k]] < quantities[k]:
                            break
                    else:
                        complete = j
                        break
            if complete >= 0:
                lo = complete * n_lines
                location = locations[complete]
                positions = viable_position[p0 + lo : p0 + lo + n_lines].tolist()
                for k in range(n_lines):
                    stock[rows[lo + k]] -= quantities[lo + k]
                    taken[positions[k]] = quantities[lo + k]
                ships_left[location] -= 1
                units_left[location] -= order_units
                continue

        if not allow_split[order] and not allow_partial[order]:
            continue  # 3. no split, all or nothing, and no single location completes it

        # The order's candidates, nearest first: by line then distance for splitting (2), by
        # location (distance) then line for the best single location (3). Sorted per order, as
        # only a minority of orders get here.
        rank = pair_rank[ls_pair[c0:c1]]
        # int64: the sort keys below multiply it by the number of pairs
        local_line = ls_line[c0:c1].astype(np.int64) - first_line_i
        if allow_split[order]:
            sequence = np.argsort(local_line * n_pairs + rank)
        else:
            sequence = np.argsort(rank * n_lines + local_line)
        positions = (sequence + c0).tolist()
        cand_locations = ls_location[c0:c1][sequence].tolist()
        cand_rows = ls_inventory[c0:c1][sequence].tolist()

        if allow_split[order]:
            # 2. Line by line from the nearest locations with stock.
            line_bounds = (line_cand_start[first_line_i : first_line_i + n_lines + 1] - c0).tolist()
            order_taken: list[tuple[int, int]] = []
            used: set[int] = set()
            filled = 0
            for j in range(n_lines):
                need = line_quantity[first_line_i + j]
                for k in range(line_bounds[j], line_bounds[j + 1]):
                    location = cand_locations[k]
                    row = cand_rows[k]
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
                    stock[cand_rows[k]] += units
                    units_left[cand_locations[k]] += units
                for location in used:
                    ships_left[location] += 1
                continue
            for k, units in order_taken:
                taken[positions[k]] = units
            continue

        # 3. No split: the single location that serves the most units (the nearest on ties).
        cand_lines = (local_line[sequence] + first_line_i).tolist()
        ranks = rank[sequence].tolist()
        bounds = [k for k in range(len(ranks)) if k == 0 or ranks[k] != ranks[k - 1]]
        bounds.append(len(ranks))
        best_run, best_units = -1, 0
        for run in range(len(bounds) - 1):
            lo, hi = bounds[run], bounds[run + 1]
            location = cand_locations[lo]
            if ships_left[location] < 1:
                continue
            left: dict[int, int] = {}  # a row shared by two lines of the order is shared
            servable = 0
            for k in range(lo, hi):
                available = left.get(cand_rows[k], stock[cand_rows[k]])
                units = min(line_quantity[cand_lines[k]], available)
                left[cand_rows[k]] = available - units
                servable += units
            servable = min(servable, units_left[location])
            if servable > best_units:
                best_run, best_units = run, servable
        if best_run < 0:
            continue
        lo, hi = bounds[best_run], bounds[best_run + 1]
        location = cand_locations[lo]
        ships_left[location] -= 1
        for k in range(lo, hi):
            units = min(line_quantity[cand_lines[k]], stock[cand_rows[k]], units_left[location])
            if units <= 0:
                continue
            stock[cand_rows[k]] -= units
            units_left[location] -= units
            taken[positions[k]] = units

    if taken:
        in_line = np.fromiter(taken.keys(), np.int64, len(taken))
        candidates = in_line if line_sort is None else line_sort[in_line]
        allocation[candidates] = np.fromiter(taken.values(), np.int64, len(taken))
    return allocation


def _compact(largest: int) -> type[np.signedinteger[Any]]:
    """int32 when every value up to ``largest`` fits in it, else int64."""
    return np.int32 if largest < np.iinfo(np.int32).max else np.int64


def _offsets(counts: npt.NDArray[np.int64]) -> IntArray:
    """Start offsets of consecutive groups of the given sizes, plus the end (length n + 1)."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _pairs_ranked(data: ProblemData, measure: FloatArray) -> tuple[IntArray, IntArray]:
    """Pairs sorted by (order, measure, location): the sequence, and each pair's rank in it.

    ``measure`` is >= 0 per pair (distance, or cost). The pairs come sorted by (order, location);
    a stable sort on order times a stride above every measure, plus the measure, keeps location
    order on ties and never mixes orders. One float key sorts several times faster than
    np.lexsort over the three columns.
    """
    if not _pairs_in_order(data):
        sequence = np.lexsort((data.pair_location, measure, data.pair_order))
    else:
        stride = max(
            _ORDER_STRIDE_KM, 2.0 ** np.ceil(np.log2(float(measure.max(initial=0.0)) + 1.0))
        )
        key = data.pair_order * stride
        key += measure
        sequence = np.argsort(key, kind="stable")
        del key
    rank = np.empty(data.n_pairs, dtype=np.int64)
    rank[sequence] = np.arange(data.n_pairs, dtype=np.int64)
    return sequence.astype(np.int64, copy=False), rank


def _pairs_in_order(data: ProblemData) -> bool:
    """Are the pairs strictly sorted by (order, location), as the problem builder emits them?
    Checked in chunks, in int64 (order x locations may not fit the index dtype)."""
    stride = max(data.n_locations, 1)
    for lo in range(0, max(data.n_pairs - 1, 0), _CHUNK):
        hi = min(lo + _CHUNK + 1, data.n_pairs)
        key = data.pair_order[lo:hi].astype(np.int64) * stride + data.pair_location[lo:hi]
        if not np.all(np.diff(key) > 0):
            return False
    return True
