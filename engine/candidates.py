"""Which candidates are worth offering a solver: each line's cheapest, ranked once."""

from __future__ import annotations

import numpy as np

from engine.problem import BoolArray, FloatArray, IntArray, ProblemData, index_dtype


def cheapness_rank(data: ProblemData) -> IntArray:
    """Each candidate's rank among its line's (0: the cheapest), by what a unit would cost from
    there if the line shipped alone: the shipment's cost spread over the line's units, plus
    handling. Ties go to the candidate that comes first."""
    cached = data._cache.get("cheapness_rank")
    if cached is not None:
        return cached  # type: ignore[return-value]
    unit_cost = data.pair_cost[data.candidate_pair]
    unit_cost /= data.line_quantity[data.candidate_line]
    unit_cost += data.location_unit_cost[data.candidate_location]
    order = _by_line_then_cost(data, unit_cost)
    del unit_cost
    # Sorted by line, a line's candidates take the positions from its start in line order on,
    # so a candidate's rank is its position less that start.
    rank = np.empty(data.n_candidates, dtype=index_dtype(data.n_candidates))
    rank[order] = np.arange(data.n_candidates, dtype=rank.dtype)
    rank -= data.line_candidate_start()[data.candidate_line].astype(rank.dtype)
    data._cache["cheapness_rank"] = rank
    return rank


def _by_line_then_cost(data: ProblemData, unit_cost: FloatArray) -> IntArray:
    """Candidates sorted by (line, unit cost, position), as ``np.lexsort`` sorts them.

    Lines grouped as the problem builder emits them, one stable sort of the float key
    ``line * stride + cost`` does it several times faster; where the key's rounding merged two
    different costs of a line (or the lines are not grouped), the slow sort stands in.
    """
    line = data.candidate_line
    if data.candidates_grouped_by_line() and data.n_candidates > 1:
        stride = 2.0 ** np.ceil(np.log2(float(unit_cost.max()) + 1.0))
        key = line * stride
        key += unit_cost
        order = np.argsort(key, kind="stable")
        del key
        sorted_cost = unit_cost[order]
        sorted_line = line[order]
        same_line = sorted_line[1:] == sorted_line[:-1]
        lines_rise = bool(np.all(sorted_line[1:] >= sorted_line[:-1]))
        del sorted_line
        rising = sorted_cost[1:] > sorted_cost[:-1]
        tied = sorted_cost[1:] == sorted_cost[:-1]
        del sorted_cost
        # Within a line: costs never fall, and ties keep the candidates' order (stable sort
        # of equal keys); equal costs always have equal keys, so only falls need checking.
        if lines_rise and bool(np.all(~same_line | rising | (tied & (order[1:] > order[:-1])))):
            return order
    return np.lexsort((unit_cost, line))


def cheapest_candidates(data: ProblemData, per_line: int) -> BoolArray:
    """Each line's ``per_line`` cheapest candidates, as :func:`cheapness_rank` ranks them."""
    return cheapness_rank(data) < per_line
