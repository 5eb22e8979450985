"""Which candidates are worth offering a solver: each line's cheapest, ranked once."""

from __future__ import annotations

import numpy as np

from engine.problem import BoolArray, IntArray, ProblemData


def cheapness_rank(data: ProblemData) -> IntArray:
    """Each candidate's rank among its line's (0: the cheapest), by what a unit would cost from
    there if the line shipped alone: the shipment's cost spread over the line's units, plus
    handling."""
    cached = data._cache.get("cheapness_rank")
    if cached is not None:
        return cached  # type: ignore[return-value]
    unit_cost = (
        data.pair_cost[data.candidate_pair] / data.line_quantity[data.candidate_line]
        + data.location_unit_cost[data.candidate_location]
    )
    order = np.lexsort((unit_cost, data.candidate_line))
    line_start = np.searchsorted(data.candidate_line[order], data.candidate_line[order])
    rank = np.empty(data.n_candidates, dtype=np.int64)
    rank[order] = np.arange(data.n_candidates, dtype=np.int64) - line_start
    data._cache["cheapness_rank"] = rank
    return rank


def cheapest_candidates(data: ProblemData, per_line: int) -> BoolArray:
    """Each line's ``per_line`` cheapest candidates, as :func:`cheapness_rank` ranks them."""
    return cheapness_rank(data) < per_line
