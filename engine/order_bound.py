"""A proven lower bound on the cost at a fill that keeps each order whole: the order bound.

The LP relaxation (:mod:`engine.bound`) lets an order pay a fraction of a shipment: half a
shipment's cost for half its units, a line split over two stores to share two shipments. That
is most of what separates the LP from the optimum (at M about 5% under the best answer,
where HiGHS' cuts after hours reach 3% under it). Relaxing only what couples orders keeps every
shipment whole:

    LB(y, pi) = y . b + sum over priorities p of pi_p * F_p
              + sum over orders o of  min over o's plans of  sum_c (r_c - pi_p) x_c + sum_k g_k y_k

with ``y`` the duals of the stock and capacity rows (any of the relaxation's rounds; at most 0),
``pi_p >= 0`` the price of a unit of fill at priority p, ``r_c`` a unit's cost plus its stock
row's and location's prices, ``g_k`` a shipment's cost plus its location's price per shipment.
An order's plan keeps its own rules: each line at most its quantity (all-or-nothing: each line
all of it, or the order nothing), its shipments whole, no-split orders at one location. That is
Lagrangian relaxation with integral subproblems (the Dantzig-Wolfe bound at the best duals).
At S-seed1, at the LP's own duals, an exact MIP of every order's plan gives 10,013, three
quarters of the way from the LP (9,911) to the optimum (10,044); this module 9,992.

Each order's best plan is found exactly where that is cheap, vectorised over orders in numpy:

- an order at one location (no-split, or a pickup: one location to ship from): the best
  location, each line what it has there (all of it, for an all-or-nothing order);
- an order of at most ``MAX_LINES_EXACT`` *slots*: a line that every location of it can serve
  whole is one slot (served from one location of the plan, the cheapest), a *thin* line (some
  location holds part of it) a slot per unit. A plan is a partition of the slots into groups,
  each shipped from one location that has the units (a thin line's per location at most what
  it has there); each group's best location comes from one pass over the order's shipments,
  the best partition from a dynamic programme over subsets of slots. (Two groups may pick one
  location, paying its shipment twice: a thin line can then take more there than it has. Valid,
  weaker.)
- larger orders line by line, each shipment's cost shared among the lines it could carry, each
  line's cheapest units while they pay for themselves: the LP of each line's plan.

Where a plan is priced by a relaxation (thin lines, larger orders, an all-or-nothing order with
a thin line priced as a partial one), the order's term of the LP's own Lagrangian at the same
duals may be stronger and is taken where it is: so the bound is never below the LP's Lagrangian
at the duals it is given, and above it wherever an order would share or split shipments.

The fill prices are separable by priority (an order's lines share its priority), so each
``pi_p`` is chosen by a golden-section search on its own concave piece, from the relaxation's
own fill prices where duals are given.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.bound import Duals, RowPrices
from engine.measures import fill_by_priority
from engine.problem import BoolArray, FloatArray, IntArray, ProblemData

# Orders with more slots than this are priced line by line (2^L subsets per location, 3^L
# steps of the programme: 2,187 at 7, over the few orders that large). M-seed3 at a second
# round's duals: 87,689 at 6, 87,758 at 7, 87,840 at 8 (1.05 / 1.01 / 1.36 s).
MAX_LINES_EXACT = 7
# Golden-section steps of each priority's fill price: the bracket shrinks by 0.618 a step.
FILL_PRICE_STEPS = 10
# ... from the relaxation's duals, whose own fill prices are priced first and are as good as
# any found near them at M and L (M-seed3 at a third round's: 93,762 after 0, 3, 5 and 8 steps;
# at the answers' duals of 2026-12-02 evening, M-seed1 93,727.9, M-seed3 93,146.7 and L-seed1
# 419,221.8 at them alone and after 2 and 6 steps, 0.37-0.41 s and 4.0 s for the one pass at
# them against 0.85-0.97 and 9.2 s with two steps): the steps run only while a deadline allows
# (they find more in a small batch where one order's whole shipments are worth a higher price)
PRICED_FILL_PRICE_STEPS = 2
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
# bits set per subset of slots
_BITS = np.array([bin(mask).count("1") for mask in range(1 << MAX_LINES_EXACT)], dtype=np.int64)


def order_bound(
    data: ProblemData,
    x: IntArray,
    *,
    duals: Duals | None = None,
    steps: int | None = None,
    deadline: float | None = None,
) -> float:
    """A proven lower bound on the cost of any allocation with at least ``x``'s fill per
    priority: the Lagrangian with whole orders (see the module), at ``duals``' stock and
    capacity prices (none: 0) and the best fill prices found in ``steps`` golden-section steps
    (default: ``FILL_PRICE_STEPS``, ``PRICED_FILL_PRICE_STEPS`` from duals), each priced
    first at the duals' own fill prices. ``deadline`` (a ``time.perf_counter()`` value): no
    probe of the search starts that would end past it (each a pass over the orders, as long as
    the first took); the first pass always runs. Valid for any duals: those of the wrong sign
    are taken as 0."""
    if steps is None:
        steps = FILL_PRICE_STEPS if duals is None else PRICED_FILL_PRICE_STEPS
    fill = fill_by_priority(data, x)
    if data.n_candidates == 0:
        return 0.0
    priced = _Priced.of(data, duals)
    plans = _OrderPlans.of(data)
    need = np.array([fill.get(p, 0) for p in data.priorities], dtype=np.float64)
    # the price of fill at which every unit pays for its shipment on its own: past it, each
    # priority's piece only falls
    unit_rank = plans.priority_rank[data.line_order[data.candidate_line]]
    most = np.zeros(need.size)
    np.maximum.at(most, unit_rank, priced.unit + priced.shipment[data.candidate_pair])
    low, high = np.zeros(need.size), most + 1.0
    if duals is not None:
        # the relaxation's own fill prices are near the best ones: the search stays within
        # twice them
        high = np.minimum(high, 2.0 * np.maximum(duals.fill, 0.0) + 1.0)

    def value(price: FloatArray) -> FloatArray:
        return price * need + plans.least_cost(priced, price)

    def bound(best: FloatArray) -> float:
        # priorities that need no units: their piece is 0 at price 0 (costs are never negative)
        return priced.constant + float(np.where(need > 0, best, 0.0).sum())

    # (at price 0 each priority's piece is 0: no unit is worth its cost)
    best = np.zeros(need.size)
    pass_s = 0.0
    if duals is not None:
        # at the relaxation's own fill prices, never below its Lagrangian (each order's term
        # is the larger of its plan's and the relaxation's)
        started = time.perf_counter()
        best = np.maximum(best, value(np.maximum(duals.fill, 0.0)))
        pass_s = time.perf_counter() - started

    def in_time(passes: int) -> bool:
        return deadline is None or time.perf_counter() + passes * pass_s <= deadline

    if steps == 0 or not in_time(2):
        return bound(best)
    # golden section on each priority's piece at once (each piece is concave in its price)
    left = high - _GOLDEN * (high - low)
    right = low + _GOLDEN * (high - low)
    at_left, at_right = value(left), value(right)
    best = np.maximum(best, np.maximum(at_left, at_right))
    for _ in range(steps):
        if not in_time(1):
            break
        # the maximum lies right of ``left`` where the right probe is higher, else left of
        # ``right``; the surviving probe keeps its value, one new probe is priced
        go_right = at_left < at_right
        low = np.where(go_right, left, low)
        high = np.where(go_right, high, right)
        probe = np.where(go_right, low + _GOLDEN * (high - low), high - _GOLDEN * (high - low))
        at_probe = value(probe)
        best = np.maximum(best, at_probe)
        left, right = np.where(go_right, right, probe), np.where(go_right, probe, left)
        at_left, at_right = (
            np.where(go_right, at_right, at_probe),
            np.where(go_right, at_probe, at_left),
        )
    return bound(best)


@dataclass(frozen=True)
class _Priced:
    """Per candidate the cost of a unit, per pair the cost of a shipment, at the duals; and
    the duals times their rows' bounds."""

    unit: FloatArray
    shipment: FloatArray
    constant: float
    # the duals of each line's row (None: 0): the LP's view of an order, which the bound
    # takes where it is stronger than the plan's
    line: FloatArray | None = None

    @classmethod
    def of(cls, data: ProblemData, duals: Duals | None) -> _Priced:
        unit = data.location_unit_cost[data.candidate_location].astype(np.float64)
        shipment = data.pair_cost.astype(np.float64)
        if duals is None:
            return cls(unit, shipment, 0.0)
        prices = RowPrices.of(data, duals)
        unit = unit - prices.stock[data.candidate_inventory] - prices.units[data.candidate_location]
        shipment = shipment - prices.ships[data.pair_location]
        return cls(unit, shipment, prices.constant, duals.line)


@dataclass(frozen=True)
class _Group:
    """The split orders with ``n_slots`` slots, priced exactly: their pairs in order, and in a
    (pair, slot) table each slot's units at each location. A slot is a line that every location
    serves whole, or one unit of a thin line (its units may come from several locations)."""

    n_slots: int
    orders: IntArray
    pairs: IntArray  # the orders' pairs, grouped by order
    order_start: IntArray  # each order's first row in ``pairs``
    entry_candidate: IntArray  # per entry of the table: its candidate,
    entry_row: IntArray  # its row (pair),
    entry_slot: IntArray  # its slot,
    entry_units: FloatArray  # the units the slot takes there
    all_or_nothing: BoolArray  # per order: exact all-or-nothing (no thin line)
    # the (subset, row) pairs where the row's location has fewer units of a thin line than
    # the subset takes
    over_mask: IntArray
    over_row: IntArray


@dataclass(frozen=True)
class _OrderPlans:
    """Each order's best plan at given prices, by kind of order (see the module)."""

    n_orders: int
    n_priorities: int
    priority_rank: IntArray  # per order, its priority's position in data.priorities
    candidate_rank: IntArray  # per candidate, its order's
    units: FloatArray  # per candidate, the most units it can give its line
    candidate_pair: IntArray
    # orders at one location (no-split, or with one location to ship from): their candidates,
    # each one's row among their pairs, and whether it must give its line whole (an
    # all-or-nothing order's); their pairs, each one's order, and whether such an order can't
    # ship from it at all (a line it can't give whole)
    single: IntArray
    single_candidates: IntArray
    single_row: IntArray
    single_whole: BoolArray
    single_pair_order: IntArray
    single_pair_shipment: IntArray  # the pairs themselves
    single_unusable: BoolArray
    # split orders with more slots than MAX_LINES_EXACT: each line on its own
    by_line: IntArray  # their candidates, by line, cheapest first at any prices
    by_line_order: IntArray  # their order
    by_line_line: IntArray  # their line
    by_line_quantity: FloatArray  # their line's quantity
    by_line_pair_lines: FloatArray  # lines of the order that the candidate's location serves
    groups: tuple[_Group, ...]
    # the orders whose plan is priced by a relaxation somewhere (a thin line, many slots),
    # whose LP terms may be stronger: their candidates with each one's line and row among
    # their pairs, their pairs with each one's order, their lines with each one's order
    weak: IntArray
    weak_candidates: IntArray
    weak_line: IntArray
    weak_row: IntArray
    weak_upper: FloatArray
    weak_pairs: IntArray
    weak_pair_order: IntArray
    weak_lines: IntArray
    weak_line_order: IntArray
    weak_line_quantity: FloatArray
    weak_line_partial: BoolArray

    @classmethod
    def of(cls, data: ProblemData) -> _OrderPlans:
        # (not kept in the problem's cache: a solve prices it once, and kept, its index (about
        # a gigabyte at L) would still be held while the response is written)
        priorities = np.array(data.priorities, dtype=np.int64)
        priority_rank = np.searchsorted(-priorities, -data.order_priority).astype(np.int64)
        line = data.candidate_line
        quantity = data.line_quantity[line]
        upper = data.candidate_upper.astype(np.int64)
        usable = upper > 0
        units = np.minimum(upper, quantity).astype(np.float64)
        candidate_order = data.line_order[line]
        # a thin line: some location can serve it, but not all of it
        thin_line = (
            np.bincount(line, weights=usable & (upper < quantity), minlength=data.n_lines) > 0
        )
        order_thin = np.bincount(data.line_order, weights=thin_line, minlength=data.n_orders) > 0
        lines_per_order = np.bincount(data.line_order, minlength=data.n_orders)
        # each line one slot, a thin one a slot per unit
        slots_per_line = np.where(thin_line, data.line_quantity, 1)
        slots_per_order = np.bincount(
            data.line_order, weights=slots_per_line, minlength=data.n_orders
        ).astype(np.int64)
        first_slot_of_line = np.cumsum(slots_per_line) - slots_per_line
        first_line = np.searchsorted(data.line_order, np.arange(data.n_orders))
        first_slot_of_order = first_slot_of_line[np.minimum(first_line, max(data.n_lines - 1, 0))]
        has_pair = np.bincount(data.pair_order, minlength=data.n_orders) > 0
        aon = ~data.order_allow_partial
        # an order with one location to ship from (a pickup order) is priced as a no-split
        # one: exactly, each line what that location has
        split = data.order_allow_split & (np.bincount(data.pair_order, minlength=data.n_orders) > 1)

        # at one location, an all-or-nothing order needs every line whole there
        single = np.flatnonzero(~split)
        single_candidates = np.flatnonzero(~split[candidate_order] & usable)
        single_pairs = np.flatnonzero(~split[data.pair_order])
        whole_there = (upper >= quantity)[single_candidates]
        single_whole = aon[candidate_order[single_candidates]] & whole_there
        single_row = np.searchsorted(single_pairs, data.candidate_pair[single_candidates])
        lines_whole = np.bincount(single_row, weights=single_whole, minlength=single_pairs.size)
        single_pair_order = data.pair_order[single_pairs]
        single_unusable = aon[single_pair_order] & (
            lines_whole < lines_per_order[single_pair_order]
        )

        groups = []
        exact = split & has_pair & (slots_per_order <= MAX_LINES_EXACT)
        # orders, pairs, candidates and thin lines by group (0: none), each group's in order
        group_of_order = np.where(exact, slots_per_order, 0)
        orders_by, pairs_by, candidates_by, thin_lines_by = (
            _by_group(member_group)
            for member_group in (
                group_of_order,
                group_of_order[data.pair_order],
                np.where(usable, group_of_order[candidate_order], 0),
                np.where(thin_line, group_of_order[data.line_order], 0),
            )
        )
        row_of_pair = np.full(data.n_pairs, -1, dtype=np.int64)  # within its group
        for n_slots in range(1, MAX_LINES_EXACT + 1):
            orders = orders_by(n_slots)
            if orders.size == 0:
                continue
            pairs = pairs_by(n_slots)
            row_of_pair[pairs] = np.arange(pairs.size, dtype=np.int64)
            mine = candidates_by(n_slots)
            # a whole line's candidate is one entry; a thin line's, one per unit of the line
            copies = slots_per_line[line[mine]]
            entry = np.repeat(mine, copies)
            within = np.arange(entry.size) - np.repeat(np.cumsum(copies) - copies, copies)
            slot = (
                first_slot_of_line[line[entry]]
                - first_slot_of_order[candidate_order[entry]]
                + within
            )
            thin_slots, thin_units = _thin_lines_per_row(
                data,
                pairs,
                row_of_pair,
                mine,
                thin_lines_by(n_slots),
                thin_line,
                first_slot_of_line,
                first_slot_of_order,
            )
            thin_rows = np.flatnonzero(thin_slots.any(axis=1))
            over = np.zeros((thin_rows.size, 1 << n_slots), dtype=bool)
            for j in range(thin_slots.shape[1]):
                over |= _over_units()[
                    thin_slots[thin_rows, j], thin_units[thin_rows, j], : 1 << n_slots
                ]
            over_at, over_mask = np.nonzero(over)
            groups.append(
                _Group(
                    n_slots=n_slots,
                    orders=orders,
                    pairs=pairs,
                    order_start=np.searchsorted(data.pair_order[pairs], orders),
                    entry_candidate=entry,
                    entry_row=row_of_pair[data.candidate_pair[entry]],
                    entry_slot=slot,
                    entry_units=np.where(thin_line[line[entry]], 1.0, units[entry]),
                    all_or_nothing=(aon & ~order_thin)[orders],
                    over_mask=over_mask,
                    over_row=thin_rows[over_at],
                )
            )

        # the rest of the split orders, line by line: a candidate's shipment shared among the
        # order's lines its location serves, its units taken cheapest first
        rest = split & ~exact
        by_line = np.flatnonzero(rest[candidate_order] & usable)
        pair_lines = np.bincount(data.candidate_pair, weights=usable, minlength=data.n_pairs)
        weak_order = split & (order_thin | ~exact)
        weak_candidates = np.flatnonzero(weak_order[candidate_order] & usable)
        weak_pairs = np.flatnonzero(weak_order[data.pair_order])
        weak_lines = np.flatnonzero(weak_order[data.line_order])
        return cls(
            n_orders=data.n_orders,
            n_priorities=priorities.size,
            priority_rank=priority_rank,
            candidate_rank=priority_rank[candidate_order],
            units=units,
            candidate_pair=data.candidate_pair,
            single=single,
            single_candidates=single_candidates,
            single_row=single_row,
            single_whole=single_whole,
            single_pair_order=single_pair_order,
            single_pair_shipment=single_pairs,
            single_unusable=single_unusable,
            by_line=by_line,
            by_line_order=candidate_order[by_line],
            by_line_line=line[by_line],
            by_line_quantity=quantity[by_line].astype(np.float64),
            by_line_pair_lines=pair_lines[data.candidate_pair[by_line]].astype(np.float64),
            groups=tuple(groups),
            weak=np.flatnonzero(weak_order),
            weak_candidates=weak_candidates,
            weak_line=line[weak_candidates],
            weak_row=np.searchsorted(weak_pairs, data.candidate_pair[weak_candidates]),
            weak_upper=upper[weak_candidates].astype(np.float64),
            weak_pairs=weak_pairs,
            weak_pair_order=data.pair_order[weak_pairs],
            weak_lines=weak_lines,
            weak_line_order=data.line_order[weak_lines],
            weak_line_quantity=data.line_quantity[weak_lines].astype(np.float64),
            weak_line_partial=data.order_allow_partial[data.line_order[weak_lines]],
        )

    def least_cost(self, priced: _Priced, fill_price: FloatArray) -> FloatArray:
        """Per priority, the sum over its orders of their best plan's reduced cost (at most 0:
        the empty plan) at ``priced`` and ``fill_price`` (per priority)."""
        best = self.per_order(priced, fill_price)
        return np.bincount(self.priority_rank, weights=best, minlength=self.n_priorities).astype(
            np.float64
        )

    def per_order(self, priced: _Priced, fill_price: FloatArray) -> FloatArray:
        """Per order, its best plan's reduced cost (at most 0) at the prices."""
        unit_worth = priced.unit - fill_price[self.candidate_rank]  # one unit, less its fill
        worth = self.units * unit_worth  # all the units a candidate can give
        best = np.zeros(self.n_orders)
        if self.single.size:
            c = self.single_candidates
            at_pair = priced.shipment[self.single_pair_shipment] + np.bincount(
                self.single_row,
                weights=np.where(self.single_whole, worth[c], np.minimum(worth[c], 0.0)),
                minlength=self.single_pair_order.size,
            )
            at_pair[self.single_unusable] = np.inf
            least = np.full(self.n_orders, np.inf)
            np.minimum.at(least, self.single_pair_order, at_pair)
            best[self.single] = np.minimum(0.0, least[self.single])
        if self.by_line.size:
            best += self._line_by_line(priced, unit_worth)
        for group in self.groups:
            best[group.orders] = _best_partitions(group, priced.shipment, unit_worth)
        if priced.line is not None and self.weak.size:
            # each order's own relaxation at the LP's duals is a bound on its plans too, and
            # where the plan is priced by a relaxation of its own it may be the stronger one
            # (elsewhere the plan's is exact, never below it)
            best[self.weak] = np.maximum(
                best[self.weak], self._relaxed(priced.line, priced, unit_worth)
            )
        return best

    def _relaxed(
        self, line_dual: FloatArray, priced: _Priced, unit_worth: FloatArray
    ) -> FloatArray:
        """Per weak order, the LP's Lagrangian term of the order (see
        :func:`engine.bound.lagrangian`) at ``unit_worth``: its lines' rows relaxed by their
        duals too (weak orders may split: no no-split row)."""
        partial = self.weak_line_partial
        dual = line_dual[self.weak_lines]
        dual = np.where(partial, np.minimum(dual, 0.0), dual)
        # (a line's position among the weak lines: both are in line order)
        reduced = (
            unit_worth[self.weak_candidates]
            - dual[np.searchsorted(self.weak_lines, self.weak_line)]
        )
        pair_value = np.minimum(
            0.0,
            priced.shipment[self.weak_pairs]
            + np.bincount(
                self.weak_row,
                weights=self.weak_upper * np.minimum(reduced, 0.0),
                minlength=self.weak_pairs.size,
            ),
        )
        per_order = np.bincount(self.weak_pair_order, weights=pair_value, minlength=self.n_orders)
        quantity_dual = self.weak_line_quantity * dual
        per_order += np.bincount(
            self.weak_line_order,
            weights=np.where(partial, quantity_dual, 0.0),
            minlength=self.n_orders,
        )
        all_or_nothing = np.bincount(
            self.weak_line_order,
            weights=np.where(partial, 0.0, quantity_dual),
            minlength=self.n_orders,
        )
        return (per_order + np.minimum(all_or_nothing, 0.0))[self.weak].astype(np.float64)

    def _line_by_line(self, priced: _Priced, unit_worth: FloatArray) -> FloatArray:
        """Per order (0 but for the line-by-line ones), its lines' best units on their own,
        each location's shipment shared among the lines it serves: the cheapest units of each
        line up to its quantity, while a unit pays for itself (the LP of each line's plan)."""
        c = self.by_line
        units = self.units[c]
        per_unit = unit_worth[c] + priced.shipment[self.candidate_pair[c]] / (
            self.by_line_pair_lines * units
        )
        order = np.lexsort((per_unit, self.by_line_line))
        per_unit, units, line = per_unit[order], units[order], self.by_line_line[order]
        taken_before = np.cumsum(units) - units
        before = taken_before - taken_before[np.searchsorted(line, line)]
        quantity = self.by_line_quantity[order]
        take = np.where(per_unit < 0, np.clip(np.minimum(units, quantity - before), 0.0, None), 0.0)
        return np.bincount(
            self.by_line_order[order], weights=per_unit * take, minlength=self.n_orders
        ).astype(np.float64)


def _best_partitions(group: _Group, shipment: FloatArray, unit_worth: FloatArray) -> FloatArray:
    """Each order of ``group``'s best plan: its slots partitioned among locations, each part
    shipped from one (a slot left out costs nothing, except in an all-or-nothing order)."""
    n_slots, n_rows = group.n_slots, group.pairs.size
    # (subsets first: each subset's values over the rows are contiguous)
    slot_worth = np.full((n_slots, n_rows), np.inf)
    slot_worth[group.entry_slot, group.entry_row] = (
        group.entry_units * unit_worth[group.entry_candidate]
    )
    # per subset of slots (a bit each) and row: the shipment and its slots' units
    n_subsets = 1 << n_slots
    subset = np.empty((n_subsets, n_rows))
    subset[0] = shipment[group.pairs]
    for mask in range(1, n_subsets):
        low = mask & -mask
        np.add(subset[mask ^ low], slot_worth[low.bit_length() - 1], out=subset[mask])
    # a location gives a thin line no more units than it has
    subset[group.over_mask, group.over_row] = np.inf
    # per subset and order: its best location for that subset
    shipped = np.minimum.reduceat(subset, group.order_start, axis=1)
    # per order, the best partition of each subset of its slots into shipments
    skip = np.where(group.all_or_nothing, np.inf, 0.0)
    best = np.zeros((n_subsets, group.orders.size))
    for mask in range(1, n_subsets):
        low = mask & -mask
        rest = mask ^ low
        value = best[rest] + skip
        part = rest
        while True:  # every part of the other slots that ships with the lowest one
            np.minimum(value, shipped[part | low] + best[rest ^ part], out=value)
            if part == 0:
                break
            part = (part - 1) & rest
        best[mask] = value
    return np.minimum(0.0, best[-1])


def _thin_lines_per_row(
    data: ProblemData,
    pairs: IntArray,
    row_of_pair: IntArray,
    candidates: IntArray,
    lines: IntArray,
    thin_line: BoolArray,
    first_slot_of_line: IntArray,
    first_slot_of_order: IntArray,
) -> tuple[IntArray, IntArray]:
    """Per row (pair) of a group, its order's thin lines (``lines``, all of the group's): the
    bits of their slots, and the units the pair's location has for each (0 where none)."""
    most = MAX_LINES_EXACT // 2  # a thin line has two slots at least
    slots = np.zeros((pairs.size, most), dtype=np.int64)
    units = np.zeros((pairs.size, most), dtype=np.int64)
    order_of_pair = data.pair_order[pairs]
    if lines.size == 0:
        return slots, units
    # (numbered within their order)
    line_order = data.line_order[lines]
    rank = np.arange(lines.size) - np.searchsorted(line_order, line_order)
    first = first_slot_of_line[lines] - first_slot_of_order[line_order]
    bits = ((1 << data.line_quantity[lines]) - 1) << first
    # every row of the line's order gets the line's bits
    row_start = np.searchsorted(order_of_pair, line_order)
    row_end = np.searchsorted(order_of_pair, line_order, side="right")
    per_line = row_end - row_start
    rows = np.repeat(row_start, per_line) + (
        np.arange(per_line.sum()) - np.repeat(np.cumsum(per_line) - per_line, per_line)
    )
    slots[rows, np.repeat(rank, per_line)] = np.repeat(bits, per_line)
    # and the units there, where the line has a candidate
    mine = candidates[thin_line[data.candidate_line[candidates]]]
    line_position = np.searchsorted(lines, data.candidate_line[mine])
    units[row_of_pair[data.candidate_pair[mine]], rank[line_position]] = np.minimum(
        data.candidate_upper[mine], data.line_quantity[data.candidate_line[mine]]
    )
    return slots, units


def _by_group(group: IntArray) -> Callable[[int], IntArray]:
    """``members(g)``: the positions whose ``group`` is g, in order (one sort for all groups)."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(MAX_LINES_EXACT + 2))
    return lambda g: order[bounds[g] : bounds[g + 1]]


@functools.cache
def _over_units() -> npt.NDArray[np.bool_]:
    """``[slots, units, subset]``: does the subset take more of a thin line's slots (a bit
    each) than the units there?"""
    masks = np.arange(1 << MAX_LINES_EXACT)
    taken = _BITS[masks[:, None] & masks[None, :]]  # [slots, subset]
    units = np.arange(MAX_LINES_EXACT + 1)
    return taken[:, None, :] > units[None, :, None]
