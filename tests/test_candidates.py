"""Each line's candidates ranked by what a unit would cost from there, ties to the first."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.candidates import _by_line_then_cost, cheapness_rank
from engine.generate import Size, generate
from engine.problem import ProblemData, build_problem
from models.validation import parse_solve_request


def _problem() -> ProblemData:
    return build_problem(parse_solve_request(generate(Size(orders=300, locations=30, skus=80), 3)))


def _rank_by_lexsort(data: ProblemData) -> np.ndarray:
    unit_cost = (
        data.pair_cost[data.candidate_pair] / data.line_quantity[data.candidate_line]
        + data.location_unit_cost[data.candidate_location]
    )
    order = np.lexsort((unit_cost, data.candidate_line))
    line_start = np.searchsorted(data.candidate_line[order], data.candidate_line[order])
    rank = np.empty(data.n_candidates, dtype=np.int64)
    rank[order] = np.arange(data.n_candidates) - line_start
    return rank


def test_rank_orders_each_lines_candidates_by_unit_cost_first_come_on_ties() -> None:
    data = _problem()
    assert data.n_candidates > 1_000
    assert np.array_equal(cheapness_rank(data), _rank_by_lexsort(data))


def test_rank_of_candidates_not_grouped_by_line_is_the_same_rank() -> None:
    data = _problem()
    reversed_ = dataclasses.replace(
        data,
        candidate_line=data.candidate_line[::-1].copy(),
        candidate_location=data.candidate_location[::-1].copy(),
        candidate_inventory=data.candidate_inventory[::-1].copy(),
        candidate_pair=data.candidate_pair[::-1].copy(),
        candidate_upper=data.candidate_upper[::-1].copy(),
        _cache={},
    )
    assert np.array_equal(cheapness_rank(reversed_), _rank_by_lexsort(reversed_))


def test_costs_too_close_for_one_float_key_are_still_sorted_exactly() -> None:
    data = _problem()
    # Costs near 1e15 differ by 0.125 within a line; the float key line * 2^50 + cost rounds
    # such differences away for every line past the first, so the exact sort must take over.
    rng = np.random.default_rng(0)
    unit_cost = 1e15 + 0.125 * rng.integers(0, 4, size=data.n_candidates)
    order = _by_line_then_cost(data, unit_cost)
    assert np.array_equal(order, np.lexsort((unit_cost, data.candidate_line)))
