"""Explanations: why this location, and who took the units a line missed.

Read from the final allocation alone, like :mod:`engine.reasons`, so the optimiser and the greedy
rules are explained the same way, and any response can be explained after the fact
(:func:`allocation_from_response`). Two questions are answered, vectorised over the batch:

**Per shipment** (an order's units from one location): the *next-best location*, the eligible
location the whole shipment could have moved to with the least change of cost, and that change.
A location qualifies when it may serve the order (eligibility, as for any candidate) and, for
every sku of the shipment, still holds at least the shipment's units of that sku *in the stock the
final allocation left there*, and when taking them keeps within its ``max_units`` and, for a
shipment it does not already make to this order, its ``max_shipments``. Only the one shipment
moves: every other order, and this order's other shipments, keep their units, so a location whose
stock went to another order is not offered (the unfilled-line view says who took what).
``extra_cost`` is the order's cost after the move minus before: the new shipment's cost (none
when the order already ships from there) plus its unit costs, less the moved shipment's cost and
unit costs. At a proven optimum it is never negative (a cheaper move would have been taken);
a ``feasible`` answer may show a saving the time limit left. ``alternative_location_id`` is
null when no other location could take the shipment whole (pickup orders: never).

**Per unfilled line**: the orders that took units from the inventory rows that could have served
it (its eligible locations' stock of its sku), highest priority first, then most units, at most
``max_takers`` of them, the order itself left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.measures import line_units
from engine.problem import UNLIMITED, IntArray, ProblemData, build_problem

MAX_TAKERS = 3  # takers listed per unfilled line: the few an analyst reads, highest priority first


def explain(data: ProblemData, x: IntArray, *, max_takers: int = MAX_TAKERS) -> dict[str, Any]:
    """Explanations of allocation ``x`` (units per candidate) of ``data``, ids restored.

    Returns ``{"shipments": [...], "unallocated": [...]}``: one row per shipment (order,
    location, units, next-best location and extra cost) and one per line that misses units (the
    orders that took its units); see the module docstring for the exact definitions.
    """
    x = np.asarray(x, dtype=np.int64)
    return {
        "shipments": _shipment_rows(data, x),
        "unallocated": _unfilled_rows(data, x, max_takers),
    }


# --- per shipment ------------------------------------------------------------------------------


def _shipment_rows(data: ProblemData, x: IntArray) -> list[dict[str, Any]]:
    served = np.flatnonzero(x > 0)
    units = x[served]
    n_rows = data.inventory_quantity.size
    pair_units = np.bincount(data.candidate_pair[served], weights=units, minlength=data.n_pairs)
    used = pair_units > 0
    shipments = np.flatnonzero(used)
    if shipments.size == 0:
        return []

    # Units per (shipment, sku): what a location must hold to take the shipment whole.
    served_pair = data.candidate_pair[served].astype(np.int64)
    served_sku = data.line_sku[data.candidate_line[served]].astype(np.int64)
    n_skus = max(len(data.sku_ids), 1)
    need_key, need_at = np.unique(served_pair * n_skus + served_sku, return_inverse=True)
    need_units = np.bincount(need_at.reshape(-1), weights=units).astype(np.int64)
    need_pair = need_key // n_skus
    # One line of the order with that sku: every line of an order with the same sku has the same
    # eligible rows (eligibility is per order and location), so its candidates list them.
    need_line = np.empty(need_key.size, np.int64)
    need_line[need_at.reshape(-1)] = data.candidate_line[served]
    skus_per_shipment = np.bincount(need_pair, minlength=data.n_pairs)

    # Stock that could take the shipment: what the final allocation left (the order's other
    # shipments keep their units, as every other order does).
    taken_per_row = np.bincount(data.candidate_inventory[served], weights=units, minlength=n_rows)
    left = data.inventory_quantity - taken_per_row.astype(np.int64)

    # Join each (shipment, sku) need with the candidates of its representative line elsewhere.
    by_line = np.argsort(data.candidate_line, kind="stable")
    line_start = np.searchsorted(data.candidate_line[by_line], np.arange(data.n_lines + 1))
    first = line_start[need_line]
    count = line_start[need_line + 1] - first
    need_of = np.repeat(np.arange(need_key.size), count)
    alt = by_line[first[need_of] + _offsets(count)]
    alt_pair = data.candidate_pair[alt].astype(np.int64)
    elsewhere = alt_pair != need_pair[need_of]
    need_of, alt, alt_pair = need_of[elsewhere], alt[elsewhere], alt_pair[elsewhere]

    holds = left[data.candidate_inventory[alt]] >= need_units[need_of]
    # Count, per (shipment, alternative pair), the skus the alternative holds enough of.
    moved_pair = need_pair[need_of[holds]]
    candidate_key, skus_held = np.unique(
        moved_pair * data.n_pairs + alt_pair[holds], return_counts=True
    )
    from_pair = candidate_key // data.n_pairs
    to_pair = candidate_key % data.n_pairs
    whole = skus_held == skus_per_shipment[from_pair]
    from_pair, to_pair = from_pair[whole], to_pair[whole]

    # Capacities of the alternative location, with the shipment's units added to it.
    location_units = np.bincount(
        data.candidate_location[served], weights=units, minlength=data.n_locations
    )
    location_shipments = np.bincount(
        data.pair_location[shipments], minlength=data.n_locations
    ).astype(np.int64)
    to_location = data.pair_location[to_pair].astype(np.int64)
    max_units = data.location_max_units[to_location]
    max_shipments = data.location_max_shipments[to_location]
    fits = (max_units == UNLIMITED) | (
        location_units[to_location] + pair_units[from_pair] <= max_units
    )
    fits &= (
        used[to_pair]
        | (max_shipments == UNLIMITED)
        | (location_shipments[to_location] < max_shipments)
    )
    from_pair, to_pair, to_location = from_pair[fits], to_pair[fits], to_location[fits]

    from_location = data.pair_location[from_pair]
    moved = pair_units[from_pair]
    extra = (
        np.where(used[to_pair], 0.0, data.pair_cost[to_pair])
        + data.location_unit_cost[to_location] * moved
        - data.pair_cost[from_pair]
        - data.location_unit_cost[from_location] * moved
    )
    # The cheapest move per shipment: sort by (shipment, extra cost), keep each shipment's first.
    by_cost = np.lexsort((to_location, extra, from_pair))
    from_pair, to_location, extra = from_pair[by_cost], to_location[by_cost], extra[by_cost]
    first_of = _run_starts(from_pair)
    best_location = np.full(data.n_pairs, -1, np.int64)
    best_extra = np.full(data.n_pairs, np.nan)
    best_location[from_pair[first_of]] = to_location[first_of]
    best_extra[from_pair[first_of]] = extra[first_of]

    order_ids, location_ids = data.order_ids, data.location_ids
    return [
        {
            "order_id": order_ids[o],
            "location_id": location_ids[loc],
            "units": u,
            "alternative_location_id": location_ids[alt_loc] if alt_loc >= 0 else None,
            "extra_cost": round(cost, 2) if alt_loc >= 0 else None,
        }
        for o, loc, u, alt_loc, cost in zip(
            data.pair_order[shipments].tolist(),
            data.pair_location[shipments].tolist(),
            pair_units[shipments].astype(np.int64).tolist(),
            best_location[shipments].tolist(),
            best_extra[shipments].tolist(),
            strict=True,
        )
    ]


# --- per unfilled line -------------------------------------------------------------------------


def _unfilled_rows(data: ProblemData, x: IntArray, max_takers: int) -> list[dict[str, Any]]:
    filled = line_units(data, x)
    short = np.flatnonzero(filled < data.line_quantity)
    if short.size == 0:
        return []
    taken: dict[int, list[dict[str, Any]]] = {int(line): [] for line in short}

    # Served candidates grouped by inventory row: the takers of each row.
    served = np.flatnonzero(x > 0)
    served_row = data.candidate_inventory[served].astype(np.int64)
    by_row = np.argsort(served_row, kind="stable")
    served, served_row = served[by_row], served_row[by_row]

    # The eligible rows of the short lines: their candidates.
    is_short = np.zeros(data.n_lines, bool)
    is_short[short] = True
    wanting = np.flatnonzero(is_short[data.candidate_line])
    want_row = data.candidate_inventory[wanting].astype(np.int64)
    start = np.searchsorted(served_row, want_row, side="left")
    count = np.searchsorted(served_row, want_row, side="right") - start
    want_of = np.repeat(np.arange(wanting.size), count)
    taker = served[np.repeat(start, count) + _offsets(count)]
    line = data.candidate_line[wanting[want_of]].astype(np.int64)
    taker_order = data.line_order[data.candidate_line[taker]].astype(np.int64)
    other = taker_order != data.line_order[line]
    line, taker_order, units = line[other], taker_order[other], x[taker[other]]

    if line.size:
        n_orders = max(data.n_orders, 1)
        key, at = np.unique(line * n_orders + taker_order, return_inverse=True)
        total = np.bincount(at.reshape(-1), weights=units).astype(np.int64)
        key_line, key_order = key // n_orders, key % n_orders
        priority = data.order_priority[key_order]
        ranked = np.lexsort((key_order, -total, -priority, key_line))
        key_line, key_order, total, priority = (
            key_line[ranked],
            key_order[ranked],
            total[ranked],
            priority[ranked],
        )
        group_start = _run_starts(key_line)
        rank = np.arange(key_line.size) - np.repeat(
            group_start, np.diff(np.r_[group_start, key_line.size])
        )
        keep = rank < max_takers
        for ln, o, p, u in zip(
            key_line[keep].tolist(),
            key_order[keep].tolist(),
            priority[keep].tolist(),
            total[keep].tolist(),
            strict=True,
        ):
            taken[ln].append({"order_id": data.order_ids[o], "priority": p, "units": u})

    return [
        {
            "order_id": data.order_ids[int(data.line_order[ln])],
            "line_id": data.line_ids[ln],
            "missing": int(data.line_quantity[ln] - filled[ln]),
            "taken_by": taken[ln],
        }
        for ln in short.tolist()
    ]


def _run_starts(keys: IntArray) -> IntArray:
    """Where each run of equal values of a sorted array starts."""
    if keys.size == 0:
        return np.empty(0, np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def _offsets(count: IntArray) -> IntArray:
    """0, 1, ..., count[j] - 1 for each j, concatenated: positions within runs of a join."""
    return np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)


# --- any response ------------------------------------------------------------------------------


def allocation_from_response(data: ProblemData, response: Mapping[str, Any]) -> IntArray:
    """The allocation (units per candidate) of a response's ``allocations`` to ``data``'s
    request, so that any answer, the greedy's or a stored run's, can be explained.

    Raises ``ValueError`` naming the first allocation row that is no candidate of the request
    (an unknown id, or a location that may not serve the line).
    """
    line_index = {
        (data.order_ids[int(o)], line_id): index
        for index, (o, line_id) in enumerate(
            zip(data.line_order.tolist(), data.line_ids, strict=True)
        )
    }
    location_index = {location_id: index for index, location_id in enumerate(data.location_ids)}
    stride = max(data.n_locations, 1)
    candidate_key = data.candidate_line.astype(np.int64) * stride + data.candidate_location
    order = np.argsort(candidate_key, kind="stable")
    sorted_key = candidate_key[order]
    x = np.zeros(data.n_candidates, np.int64)
    for position, row in enumerate(response.get("allocations", [])):
        line = line_index.get((row["order_id"], row["line_id"]))
        location = location_index.get(row["location_id"])
        at = (
            int(np.searchsorted(sorted_key, line * stride + location))
            if line is not None and location is not None
            else sorted_key.size
        )
        if at >= sorted_key.size or sorted_key[at] != line * stride + location:  # type: ignore[operator]
            raise ValueError(
                f"allocations.{position}: {row['location_id']!r} is no eligible location holding "
                f"the sku of order {row['order_id']!r} line {row['line_id']!r}"
            )
        x[order[at]] += int(row["quantity"])
    return x


def explain_response(
    request: Mapping[str, Any], response: Mapping[str, Any], *, max_takers: int = MAX_TAKERS
) -> dict[str, Any]:
    """:func:`explain` for a request and its response as contract dicts (a stored run, a
    scenario variant). Raises :class:`models.problems.InvalidInput` for a request the contract
    refuses and ``ValueError`` for an allocation that is no candidate of it."""
    from models.validation import parse_solve_request

    data = build_problem(parse_solve_request(dict(request)))
    return explain(data, allocation_from_response(data, response), max_takers=max_takers)
