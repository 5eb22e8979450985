"""Polish: move whole orders to a cheaper single location, keeping every line's units.

A local search for allocations that no solver proved optimal (a time limit, the greedy
completion of a fill stage out of time): each served order in turn may move, with exactly the
units each of its lines has, to the one location that serves them all most cheaply from the stock
and capacity left. Fill per line, and so per priority, never changes; cost never rises. It is
the move a planner would make by hand ("ship this order from one store, not two"), and it is cheap:
one pass visits each order's candidates once.
"""

from __future__ import annotations

import time

import numpy as np

from engine.problem import UNLIMITED, IntArray, ProblemData
from engine.usage import Usage

_NO_LIMIT = 1 << 62
_SAVING_EPSILON = 1e-9


def rehome_orders(
    data: ProblemData, x: IntArray, passes: int = 2, deadline: float | None = None
) -> IntArray:
    """A cheaper allocation of the same units per line, or ``x`` itself when none is found.

    ``deadline`` (a ``time.perf_counter()`` value) stops the search early, with what it has.
    """
    x = np.asarray(x, dtype=np.int64).copy()
    if data.n_candidates == 0:
        return x

    used = Usage.of(data, x)
    stock_left = (data.inventory_quantity - used.stock).tolist()
    units_left = np.where(
        data.location_max_units == UNLIMITED, _NO_LIMIT, data.location_max_units - used.units
    ).tolist()
    shipments_left = np.where(
        data.location_max_shipments == UNLIMITED,
        _NO_LIMIT,
        data.location_max_shipments - used.shipments,
    ).tolist()

    # Candidates grouped by order, then location: an order's options are one run of these
    # columns. They stay numpy (int32 where the indices fit) and become lists one order's run at
    # a time: lists of every candidate cost about 40 bytes per entry each (7.5 GB at 36M).
    candidate_order = data.line_order[data.candidate_line]
    by_order = np.lexsort((data.candidate_location, candidate_order))
    counts = np.bincount(candidate_order, minlength=data.n_orders)
    order_start = np.concatenate([[0], np.cumsum(counts)]).tolist()
    del candidate_order, counts
    by_order = by_order.astype(np.int32 if data.n_candidates < 2**31 - 1 else np.int64)
    o_line = data.candidate_line[by_order]
    o_location = data.candidate_location[by_order]
    o_row = data.candidate_inventory[by_order]
    o_pair = data.candidate_pair[by_order]
    pair_cost = data.pair_cost.tolist()
    pair_location = data.pair_location.tolist()
    unit_cost = data.location_unit_cost.tolist()
    x_list = x.tolist()
    del x, used

    for _ in range(passes):
        moved = False
        for order in range(data.n_orders):
            if deadline is not None and order % 256 == 0 and time.perf_counter() > deadline:
                return np.asarray(x_list, dtype=np.int64)
            first, last = order_start[order], order_start[order + 1]
            if first == last:
                continue
            candidates = by_order[first:last].tolist()
            if not any(x_list[c] for c in candidates):
                continue
            # this order's columns, keyed by candidate as before
            c_line = dict(zip(candidates, o_line[first:last].tolist(), strict=True))
            c_location = dict(zip(candidates, o_location[first:last].tolist(), strict=True))
            c_row = dict(zip(candidates, o_row[first:last].tolist(), strict=True))
            c_pair = dict(zip(candidates, o_pair[first:last].tolist(), strict=True))
            taken = [c for c in candidates if x_list[c] > 0]
            line_units: dict[int, int] = {}
            for c in taken:
                line_units[c_line[c]] = line_units.get(c_line[c], 0) + x_list[c]
            total_units = sum(line_units.values())
            used_pairs = {c_pair[c] for c in taken}
            current = sum(pair_cost[k] for k in used_pairs) + sum(
                x_list[c] * unit_cost[c_location[c]] for c in taken
            )
            if len(used_pairs) == 1 and current <= 0.0:
                continue
            # What this order holds now, as if it were given back.
            held_row: dict[int, int] = {}
            held_location: dict[int, int] = {}
            for c in taken:
                held_row[c_row[c]] = held_row.get(c_row[c], 0) + x_list[c]
                held_location[c_location[c]] = held_location.get(c_location[c], 0) + x_list[c]

            best_cost, best_choice = current - _SAVING_EPSILON, None
            position = 0
            while position < len(candidates):
                location = c_location[candidates[position]]
                run_end = position
                while run_end < len(candidates) and c_location[candidates[run_end]] == location:
                    run_end += 1
                run = candidates[position:run_end]
                position = run_end
                cost = pair_cost[c_pair[run[0]]] + total_units * unit_cost[location]
                if cost >= best_cost:
                    continue
                if units_left[location] + held_location.get(location, 0) < total_units:
                    continue
                ships_here = any(c_pair[c] in used_pairs for c in run)
                if not ships_here and shipments_left[location] < 1:
                    continue
                choice: dict[int, int] = {}
                # two lines of one order may share an inventory row (the same sku twice)
                chosen_from_row: dict[int, int] = {}
                for c in run:
                    need, row = line_units.get(c_line[c], 0), c_row[c]
                    available = stock_left[row] + held_row.get(row, 0) - chosen_from_row.get(row, 0)
                    if need and available >= need:
                        choice[c_line[c]] = c
                        chosen_from_row[row] = chosen_from_row.get(row, 0) + need
                if len(choice) == len(line_units):
                    best_cost, best_choice = cost, choice
            if best_choice is None:
                continue

            # Give back what the order held, then take it again from the chosen location.
            for c in taken:
                stock_left[c_row[c]] += x_list[c]
                units_left[c_location[c]] += x_list[c]
                x_list[c] = 0
            for k in used_pairs:
                shipments_left[pair_location[k]] += 1
            for line, c in best_choice.items():
                x_list[c] = line_units[line]
                stock_left[c_row[c]] -= line_units[line]
            new_location = c_location[next(iter(best_choice.values()))]
            units_left[new_location] -= total_units
            shipments_left[new_location] -= 1
            moved = True
        if not moved:
            break
    return np.asarray(x_list, dtype=np.int64)
