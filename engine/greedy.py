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

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from engine.problem import (
    UNLIMITED,
    BoolArray,
    FloatArray,
    IntArray,
    ProblemData,
    group_offsets,
)

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
    allocation = np.zeros(data.n_candidates, dtype=np.int64)
    if data.n_candidates == 0:
        return allocation
    space = _LineSpace.of(data)
    pair_sequence, pair_rank = _pairs_ranked(data, _location_measure(data, preference))
    complete = _CompleteServers.of(data, space, pair_sequence)
    del pair_sequence
    run = _Pass(
        n_pairs=data.n_pairs,
        space=space,
        pair_rank=pair_rank,
        complete=complete,
        # Plain lists for the loop: scalar indexing of a list is far cheaper than of an ndarray.
        lines=_Lines(
            order_start=data.order_line_slices().tolist(),
            quantity=data.line_quantity.tolist(),
            order_units=_units_per_order(data).tolist(),
            allow_split=data.order_allow_split.tolist(),
            allow_partial=data.order_allow_partial.tolist(),
            repeated_sku=_orders_repeating_a_sku(data).tolist(),
        ),
        left=_Left.of(data),
        taken={},
    )
    for order in order_sequence(data).tolist():
        if space.order_start[order] == space.order_start[order + 1]:
            continue  # no eligible location holds any of its skus
        if _serve_complete(run, order):
            continue  # 1. the nearest location that serves the whole order
        if run.lines.allow_split[order]:
            _serve_split(run, order)  # 2.
        elif run.lines.allow_partial[order]:
            _serve_from_one_location(run, order)  # 3.
        # else 3. no split, all or nothing, and no single location completes it

    taken = run.taken
    if taken:
        in_line = np.fromiter(taken.keys(), np.int64, len(taken))
        candidates = in_line if space.sort is None else space.sort[in_line]
        allocation[candidates] = np.fromiter(taken.values(), np.int64, len(taken))
    return allocation


@dataclass(frozen=True)
class _LineSpace:
    """The candidate columns grouped by line ("line space"): an order's lines are consecutive,
    so its candidates are one slice of it."""

    sort: IntArray | None  # line space -> candidate index; None when they are the same
    line: IntArray
    location: IntArray
    inventory: IntArray
    pair: IntArray
    line_start: IntArray  # per line, its first position (length n_lines + 1)
    order_start: list[int]  # per order, its first position (length n_orders + 1)

    @classmethod
    def of(cls, data: ProblemData) -> _LineSpace:
        # The problem builder emits candidates grouped by line; if it ever stops, one stable
        # sort restores it.
        sort = None
        if not data.candidates_grouped_by_line():
            sort = np.argsort(data.candidate_line, kind="stable")

        def in_line_space(column: IntArray) -> IntArray:
            return column if sort is None else column[sort]

        line_start = data.line_candidate_start()
        return cls(
            sort=sort,
            line=in_line_space(data.candidate_line),
            location=in_line_space(data.candidate_location),
            inventory=in_line_space(data.candidate_inventory),
            pair=in_line_space(data.candidate_pair),
            line_start=line_start,
            order_start=line_start[data.order_line_slices()].tolist(),
        )


def _units_per_order(data: ProblemData) -> IntArray:
    return np.bincount(data.line_order, weights=data.line_quantity, minlength=data.n_orders).astype(
        np.int64
    )


def _location_measure(data: ProblemData, preference: str) -> FloatArray:
    """Per pair, what ranks an order's locations: distance, or the cost of shipping the whole
    order from there (shipment plus handling of every unit)."""
    if preference == "nearest":
        return data.pair_distance_km
    # in place: one array per pair, not four
    measure = _units_per_order(data)[data.pair_order].astype(np.float64)
    measure *= data.location_unit_cost[data.pair_location]
    measure += data.pair_cost
    return measure


@dataclass(frozen=True)
class _CompleteServers:
    """The locations that could ever serve an order complete, found once with numpy, per pair:
    they stock every line, each from a row that held the line's quantity at the start, under a
    unit cap (if any) that held the order's units. Stock and capacity only shrink, so step 1
    never needs any other location; for most orders these are a handful of the hundreds.

    Per order (in ``order_start``), its such locations in preference order; per location (in
    ``order_candidate_start``), its candidates for the order's lines, in line order: their
    position in line space, inventory row and line quantity."""

    order_start: list[int]
    location: IntArray
    order_candidate_start: list[int]
    position: IntArray
    row: IntArray
    quantity: IntArray

    @classmethod
    def of(cls, data: ProblemData, space: _LineSpace, pair_sequence: IntArray) -> _CompleteServers:
        # int32 per pair: an order has far fewer lines than that holds
        lines_per_order = np.diff(data.order_line_slices()).astype(np.int32)
        pair_lines = lines_per_order[data.pair_order]
        viable = _pairs_serving_complete(data, space, pair_lines)
        viable_pairs = pair_sequence[viable[pair_sequence]]  # by (order, measure, location)
        viable_orders = data.pair_order[viable_pairs]
        block_sizes = pair_lines[viable_pairs]
        del pair_lines
        position = _candidates_by_pair(data, space, viable, viable_pairs, block_sizes)
        del viable
        return cls(
            order_start=group_offsets(np.bincount(viable_orders, minlength=data.n_orders)).tolist(),
            location=data.pair_location[viable_pairs].astype(np.int32),
            order_candidate_start=group_offsets(
                np.bincount(viable_orders, weights=block_sizes, minlength=data.n_orders).astype(
                    np.int64
                )
            ).tolist(),
            position=position,
            # Compact where the values fit: a line may ask for more units than int32 holds.
            row=space.inventory[position].astype(_compact(data.inventory_quantity.size)),
            quantity=data.line_quantity[space.line[position]].astype(
                _compact(int(data.line_quantity.max(initial=0)))
            ),
        )


def _pairs_serving_complete(
    data: ProblemData, space: _LineSpace, pair_lines: IntArray
) -> BoolArray:
    """Per pair: does the location stock every line of the order in full, under a unit cap that
    holds the order's units? (Read from the stock and caps, which callers may have cut below
    what ``candidate_upper`` says.) The same for both preferences: found once per problem."""
    cached = data._cache.get("pairs_serving_complete")
    if cached is not None:
        return cached  # type: ignore[return-value]
    short = np.empty(data.n_candidates, dtype=bool)
    for lo in range(0, data.n_candidates, _CHUNK):  # in chunks: two int64 gathers of 45M: 720 MB
        hi = lo + _CHUNK
        short[lo:hi] = (
            data.inventory_quantity[space.inventory[lo:hi]] < data.line_quantity[space.line[lo:hi]]
        )
    # Built term by term, each per-pair temporary dropped as soon as it is used.
    viable = np.bincount(space.pair[short], minlength=data.n_pairs) == 0
    del short
    viable &= np.bincount(space.pair, minlength=data.n_pairs) == pair_lines
    unit_cap = data.location_max_units[data.pair_location]
    viable &= (unit_cap == UNLIMITED) | (unit_cap >= _units_per_order(data)[data.pair_order])
    data._cache["pairs_serving_complete"] = viable  # a byte per pair
    return viable


def _candidates_by_pair(
    data: ProblemData,
    space: _LineSpace,
    viable: BoolArray,
    viable_pairs: IntArray,
    block_sizes: IntArray,
) -> IntArray:
    """The viable pairs' candidates packed pair after pair (in ``viable_pairs``' order), line by
    line: their positions in line space. A scatter, no sort: each line has at most one candidate
    per location (inventory rows are unique per location and sku)."""
    block_start = np.full(data.n_pairs, -1, dtype=_compact(data.n_candidates))
    block_start[viable_pairs] = group_offsets(block_sizes)[:-1]
    order_line_start = data.order_line_slices()
    # Positions in line space fit int32 whenever the candidates do.
    position = np.empty(int(block_sizes.sum()), dtype=_compact(data.n_candidates))
    for lo in range(0, data.n_candidates, _CHUNK):  # in chunks: a few int64 gathers per member
        members = lo + np.flatnonzero(viable[space.pair[lo : lo + _CHUNK]])
        member_line = space.line[members]
        slot = block_start[space.pair[members]] + (
            member_line - order_line_start[data.line_order[member_line]]
        )
        position[slot] = members
        del members, member_line, slot
    return position


def _orders_repeating_a_sku(data: ProblemData) -> BoolArray:
    """Orders with two lines of one sku: they draw on the same inventory row twice, and take
    the slower path that sums demand per row."""
    line_key = data.line_order * max(len(data.sku_ids), 1) + data.line_sku
    _, first_line = np.unique(line_key, return_index=True)
    distinct = np.bincount(data.line_order[first_line], minlength=data.n_orders)
    return distinct < np.bincount(data.line_order, minlength=data.n_orders)


@dataclass(frozen=True)
class _Lines:
    """Per order and line, as plain lists for the loop."""

    order_start: list[int]  # per order, its first line (length n_orders + 1)
    quantity: list[int]  # per line
    order_units: list[int]
    allow_split: list[bool]
    allow_partial: list[bool]
    repeated_sku: list[bool]


@dataclass(frozen=True)
class _Left:
    """What is left as orders are served: stock per inventory row, shipments and units per
    location. Lists, updated in place."""

    stock: list[int]
    ships: list[int]
    units: list[int]

    @classmethod
    def of(cls, data: ProblemData) -> _Left:
        return cls(
            stock=data.inventory_quantity.tolist(),
            ships=np.where(
                data.location_max_shipments == UNLIMITED, _NO_LIMIT, data.location_max_shipments
            ).tolist(),
            units=np.where(
                data.location_max_units == UNLIMITED, _NO_LIMIT, data.location_max_units
            ).tolist(),
        )


def _serve_complete(run: _Pass, order: int) -> bool:
    """Step 1: serve the order whole from its first location (in preference order) that still
    can; False when none can."""
    complete, lines, left, taken = run.complete, run.lines, run.left, run.taken
    v0, v1 = complete.order_start[order], complete.order_start[order + 1]
    if v0 == v1:
        return False
    stock, ships_left, units_left = left.stock, left.ships, left.units
    n_lines = lines.order_start[order + 1] - lines.order_start[order]
    order_units = lines.order_units[order]
    p0, p1 = complete.order_candidate_start[order], complete.order_candidate_start[order + 1]
    locations = complete.location[v0:v1].tolist()
    rows = complete.row[p0:p1].tolist()
    quantities = complete.quantity[p0:p1].tolist()
    chosen = -1
    for j, location in enumerate(locations):
        if ships_left[location] < 1 or units_left[location] < order_units:
            continue
        lo = j * n_lines
        if lines.repeated_sku[order]:
            demand: dict[int, int] = {}
            for k in range(lo, lo + n_lines):
                demand[rows[k]] = demand.get(rows[k], 0) + quantities[k]
            if all(stock[row] >= need for row, need in demand.items()):
                chosen = j
                break
        else:
            for k in range(lo, lo + n_lines):
                if stock[rows[k]] < quantities[k]:
                    break
            else:
                chosen = j
                break
    if chosen < 0:
        return False
    lo = chosen * n_lines
    location = locations[chosen]
    positions = complete.position[p0 + lo : p0 + lo + n_lines].tolist()
    for k in range(n_lines):
        stock[rows[lo + k]] -= quantities[lo + k]
        taken[positions[k]] = quantities[lo + k]
    ships_left[location] -= 1
    units_left[location] -= order_units
    return True


@dataclass(frozen=True)
class _Pass:
    """One greedy pass: what it reads, and what it has taken so far (``taken``: units per
    position in line space)."""

    n_pairs: int
    space: _LineSpace
    pair_rank: IntArray
    complete: _CompleteServers
    lines: _Lines
    left: _Left
    taken: dict[int, int]


@dataclass(frozen=True)
class _InTurn:
    """An order's candidates in the turn steps 2 and 3 take them: by line, then preference
    (``line_first``), or by location in preference order, then line. Sorted per order, as
    only a minority of orders get past step 1."""

    first_line: int
    n_lines: int
    positions: list[int]  # in line space
    locations: list[int]
    rows: list[int]
    lines: list[int]
    ranks: list[int]  # the location's rank in preference order

    @classmethod
    def of(cls, run: _Pass, order: int, *, line_first: bool) -> _InTurn:
        space, lines = run.space, run.lines
        c0, c1 = space.order_start[order], space.order_start[order + 1]
        first_line = lines.order_start[order]
        n_lines = lines.order_start[order + 1] - first_line
        # int64: the keys multiply a rank or a line by up to the number of pairs
        rank = run.pair_rank[space.pair[c0:c1]].astype(np.int64)
        local_line = space.line[c0:c1].astype(np.int64) - first_line
        if line_first:
            sequence = np.argsort(local_line * max(run.n_pairs, 1) + rank)
        else:
            sequence = np.argsort(rank * n_lines + local_line)
        return cls(
            first_line=first_line,
            n_lines=n_lines,
            positions=(sequence + c0).tolist(),
            locations=space.location[c0:c1][sequence].tolist(),
            rows=space.inventory[c0:c1][sequence].tolist(),
            lines=(local_line[sequence] + first_line).tolist(),
            ranks=rank[sequence].tolist(),
        )


def _serve_split(run: _Pass, order: int) -> None:
    """Step 2: line by line from the locations first in preference order with stock, within
    their capacities; an all-or-nothing order that ends up short gives everything back."""
    space, lines, left, taken = run.space, run.lines, run.left, run.taken
    turn = _InTurn.of(run, order, line_first=True)
    first_line, n_lines = turn.first_line, turn.n_lines
    positions, cand_locations, cand_rows = turn.positions, turn.locations, turn.rows
    stock, ships_left, units_left = left.stock, left.ships, left.units
    c0 = space.order_start[order]
    line_bounds = (space.line_start[first_line : first_line + n_lines + 1] - c0).tolist()
    order_taken: list[tuple[int, int]] = []
    used: set[int] = set()
    filled = 0
    for j in range(n_lines):
        need = lines.quantity[first_line + j]
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
        filled += lines.quantity[first_line + j] - need
    if filled < lines.order_units[order] and not lines.allow_partial[order]:
        # All or nothing: give everything back.
        for k, units in order_taken:
            stock[cand_rows[k]] += units
            units_left[cand_locations[k]] += units
        for location in used:
            ships_left[location] += 1
        return
    for k, units in order_taken:
        taken[positions[k]] = units


def _serve_from_one_location(run: _Pass, order: int) -> None:
    """Step 3 (no split, partial allowed): the single location that serves the most units, the
    first in preference order on ties."""
    lines, left, taken = run.lines, run.left, run.taken
    turn = _InTurn.of(run, order, line_first=False)
    positions, cand_locations, cand_rows = turn.positions, turn.locations, turn.rows
    cand_lines, ranks = turn.lines, turn.ranks
    stock, ships_left, units_left = left.stock, left.ships, left.units
    bounds = [k for k in range(len(ranks)) if k == 0 or ranks[k] != ranks[k - 1]]
    bounds.append(len(ranks))
    best_group, best_units = -1, 0
    for group in range(len(bounds) - 1):
        lo, hi = bounds[group], bounds[group + 1]
        location = cand_locations[lo]
        if ships_left[location] < 1:
            continue
        row_left: dict[int, int] = {}  # a row shared by two lines of the order is shared
        servable = 0
        for k in range(lo, hi):
            available = row_left.get(cand_rows[k], stock[cand_rows[k]])
            units = min(lines.quantity[cand_lines[k]], available)
            row_left[cand_rows[k]] = available - units
            servable += units
        servable = min(servable, units_left[location])
        if servable > best_units:
            best_group, best_units = group, servable
    if best_group < 0:
        return
    lo, hi = bounds[best_group], bounds[best_group + 1]
    location = cand_locations[lo]
    ships_left[location] -= 1
    for k in range(lo, hi):
        units = min(lines.quantity[cand_lines[k]], stock[cand_rows[k]], units_left[location])
        if units <= 0:
            continue
        stock[cand_rows[k]] -= units
        units_left[location] -= units
        taken[positions[k]] = units


def _compact(largest: int) -> type[np.signedinteger[Any]]:
    """int32 when every value up to ``largest`` fits in it, else int64."""
    return np.int32 if largest < np.iinfo(np.int32).max else np.int64


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
    rank = np.empty(data.n_pairs, dtype=_compact(data.n_pairs))
    rank[sequence] = np.arange(data.n_pairs, dtype=rank.dtype)
    return sequence.astype(rank.dtype), rank


def _pairs_in_order(data: ProblemData) -> bool:
    """Are the pairs strictly sorted by (order, location), as the problem builder emits them?
    Checked in chunks, in int64 (order x locations may not fit the index dtype); once per
    problem."""
    cached = data._cache.get("pairs_in_order")
    if cached is None:
        cached = _pairs_strictly_rising(data)
        data._cache["pairs_in_order"] = cached
    return cached  # type: ignore[return-value]


def _pairs_strictly_rising(data: ProblemData) -> bool:
    stride = max(data.n_locations, 1)
    for lo in range(0, max(data.n_pairs - 1, 0), _CHUNK):
        hi = min(lo + _CHUNK + 1, data.n_pairs)
        key = data.pair_order[lo:hi].astype(np.int64) * stride + data.pair_location[lo:hi]
        if not np.all(np.diff(key) > 0):
            return False
    return True
