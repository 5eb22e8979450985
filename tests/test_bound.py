"""The bound (engine/bound.py) and what the pipeline reports from it: a proven lower bound is never
above the independent exact optimum, ``optimal`` is said only when the optimum is reached, and a
deterministic solve gives the same response twice."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from benchmarks.lp_bound import lp_cost_bound, lp_cost_bounds
from engine.bound import RestrictedMaster, cost_bound, covers
from engine.checker import assert_valid, fill_by_priority, total_cost
from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.line_bound import line_bound
from engine.measures import allocation_cost
from engine.measures import fill_by_priority as fill_of
from engine.params import SolveParams
from engine.problem import build_problem
from engine.solve import solve
from models.solve import SolveRequest
from models.validation import parse_solve_request
from tests.builders import at_the_optimum, random_duals
from tests.reference import reference_optimum
from tests.strategies import REPRODUCIBLE, solve_requests

SETTINGS = settings(REPRODUCIBLE, max_examples=60)
# The search alone, for a fixed number of neighbourhoods: the path of every large batch, which
# proves nothing about fill and reports the relaxation's bound.
SEARCH_ONLY = SolveParams(search_above_candidates=0, deterministic=True, neighbourhoods=6)
# half a cent: the response rounds money, the bound included, to 2 decimals
ROUNDING = 0.005 + 1e-9


def _generated(orders: int, locations: int, skus: int, seed: int) -> dict[str, Any]:
    return generate(Size(orders=orders, locations=locations, skus=skus), seed)


def _solved_both_ways(raw: dict[str, Any]) -> Iterator[tuple[SolveRequest, dict[str, Any]]]:
    """The request solved by the whole pipeline and by the search alone, each checked."""
    for params in (SolveParams(), SEARCH_ONLY):
        request = parse_solve_request(raw)
        response = solve(request, params)
        assert_valid(request, response)
        yield request, response


@pytest.mark.slow
@SETTINGS
@given(raw=solve_requests(max_locations=5, max_orders=5, max_lines=2, max_quantity=3))
def test_reported_bound_never_exceeds_the_exact_optimum(raw: dict[str, Any]) -> None:
    for request, response in _solved_both_ways(raw):
        reference = reference_optimum(request)
        # money in the response is rounded to the cent, the bound too
        bound = response["solver"]["bound"]
        assert bound <= response["solver"]["objective"]
        if fill_by_priority(request, response) == reference.fill_by_priority:
            # at the optimum's fill, no allocation costs less than the optimum
            assert bound <= reference.cost + ROUNDING


@pytest.mark.slow
@SETTINGS
@given(raw=solve_requests(max_locations=5, max_orders=5, max_lines=2, max_quantity=3))
def test_optimal_is_said_only_when_the_optimum_is_reached(raw: dict[str, Any]) -> None:
    for request, response in _solved_both_ways(raw):
        if response["solver"]["status"] != "optimal":
            continue
        reference = reference_optimum(request)
        assert fill_by_priority(request, response) == reference.fill_by_priority
        # relative_gap is 0 in these requests: optimal means the optimum's cost
        assert math.isclose(
            total_cost(request, response), reference.cost, rel_tol=1e-6, abs_tol=0.01
        )


@pytest.mark.parametrize("seed", [1, 2])
def test_column_generation_reaches_the_full_lp_bound(seed: int) -> None:
    # The LP over every candidate, assembled apart (benchmarks/lp_bound.py) and solved whole,
    # against the master grown by pricing from each line's cheapest few.
    data = build_problem(parse_solve_request(_generated(300, 30, 200, seed)))
    x = greedy_allocate(data, preference="cheapest")
    found, _ = cost_bound(data, x, deadline=time.perf_counter() + 120)
    full = lp_cost_bound(data, fill_of(data, x))
    assert found.converged
    assert full.bound is not None
    assert found.value == pytest.approx(full.bound, rel=1e-6)
    assert found.columns < data.n_candidates  # it got there without every column


def test_the_bound_holds_at_any_prices() -> None:
    # Lagrangian duality: any duals of the right signs give a lower bound, not only optimal
    # ones; so a bound cut short by the clock is still a bound.
    data = build_problem(parse_solve_request(_generated(200, 20, 100, 3)))
    x = greedy_allocate(data)
    exact, master = cost_bound(data, x, deadline=time.perf_counter() + 120)
    rng = np.random.default_rng(0)
    for _ in range(20):
        duals = rng.normal(0.0, 5.0, master.n_rows)
        value, _, _ = master.price(_signed(master, duals))
        assert value <= exact.value + 1e-6


def _signed(master: RestrictedMaster, duals: np.ndarray) -> np.ndarray:
    duals = np.where(np.isfinite(master.row_upper), duals, np.maximum(duals, 0.0))
    return np.where(np.isfinite(master.row_lower), duals, np.minimum(duals, 0.0))


def test_a_bound_at_a_lower_fill_holds_at_a_higher_one() -> None:
    assert covers({2: 5, 1: 10, 0: 40}, {2: 5, 1: 11, 0: 40})
    assert not covers({2: 5, 1: 10, 0: 40}, {2: 6, 1: 10, 0: 39})


def test_the_bound_follows_the_fill_from_its_basis() -> None:
    data = build_problem(parse_solve_request(_generated(300, 30, 200, 4)))
    low = greedy_allocate(data)
    high = greedy_allocate(data, preference="cheapest")
    first, master = cost_bound(data, low, deadline=time.perf_counter() + 120)
    moved, _ = cost_bound(data, high, deadline=time.perf_counter() + 120, master=master)
    alone, _ = cost_bound(data, high, deadline=time.perf_counter() + 120)
    assert moved.fill == fill_of(data, high)
    assert moved.value == pytest.approx(alone.value, rel=1e-6)
    assert moved.value <= allocation_cost(data, high) + 1e-6
    assert first.value <= allocation_cost(data, low) + 1e-6


@pytest.mark.parametrize("seed", [4, 6])
def test_a_bound_carried_to_another_fill_never_exceeds_the_lp_there(seed: int) -> None:
    # The duals hold at any fill; only the fill rows' part of the Lagrangian moves. Carried
    # to a lower or a mixed fill it must stay under the LP bound at that fill, solved apart.
    data = build_problem(parse_solve_request(_generated(300, 30, 200, seed)))
    x = greedy_allocate(data, preference="cheapest")
    found, _ = cost_bound(data, x, deadline=time.perf_counter() + 120)
    fill = fill_of(data, x)
    top, *_, bottom = data.priorities
    others = [
        {p: max(0, units - 3) for p, units in fill.items()},
        {**fill, top: max(0, fill[top] - 2), bottom: fill[bottom] + 5},
    ]
    for other, lp in zip(others, lp_cost_bounds(data, others), strict=True):
        carried = found.at_fill(other, data.priorities)
        assert carried is not None and carried.fill == other
        if lp.bound is not None:  # None: no fractional allocation reaches that fill
            assert carried.value <= lp.bound + 1e-6
    assert found.at_fill(fill, data.priorities) is found


@pytest.mark.parametrize("seed", [1, 2])
def test_a_first_order_master_bound_stays_under_the_lp_and_near_it(seed: int) -> None:
    # PDLP's duals are only near-optimal: the Lagrangian at them is still a bound (never above
    # the LP solved apart), and close to it once the master has converged to its tolerance.
    data = build_problem(parse_solve_request(_generated(300, 30, 200, seed)))
    x = greedy_allocate(data, preference="cheapest")
    found, master = cost_bound(
        data, x, deadline=time.perf_counter() + 120, first_order_tolerance=1e-3
    )
    full = lp_cost_bound(data, fill_of(data, x))
    assert master.first_order_tolerance == 1e-3
    assert full.bound is not None
    assert found.value <= full.bound + 1e-6
    assert found.value >= 0.98 * full.bound
    assert len(found.rounds) == found.iterations


def test_a_carried_bound_carried_again_is_the_bound_carried_once() -> None:
    data = build_problem(parse_solve_request(_generated(300, 30, 200, 6)))
    x = greedy_allocate(data, preference="cheapest")
    found, _ = cost_bound(data, x, deadline=time.perf_counter() + 120)
    fill = fill_of(data, x)
    lower = {p: max(0, units - 3) for p, units in fill.items()}
    higher = {p: units + 2 for p, units in fill.items()}
    once = found.at_fill(higher, data.priorities)
    twice = found.at_fill(lower, data.priorities)
    assert once is not None and twice is not None
    again = twice.at_fill(higher, data.priorities)
    assert again is not None
    assert again.value == pytest.approx(once.value, rel=1e-9)


def test_large_batches_report_a_useful_bound() -> None:
    # The search's path (no model of the whole batch) reports the relaxation's bound, not 0.
    raw = _generated(400, 30, 300, 5)
    raw["policy"]["time_limit_s"] = 60.0
    request = parse_solve_request(raw)
    response = solve(request, SolveParams(search_above_candidates=0, deterministic=True))
    assert_valid(request, response)
    solver = response["solver"]
    assert solver["status"] == "feasible"
    assert 0.8 * solver["objective"] < solver["bound"] <= solver["objective"]
    assert solver["gap"] < 0.2


def test_deterministic_solve_gives_the_same_response_twice() -> None:
    raw = _generated(300, 30, 200, 6)
    raw["policy"]["time_limit_s"] = 60.0
    request = parse_solve_request(raw)
    params = SolveParams(deterministic=True, neighbourhoods=20)
    first, second = solve(request, params), solve(request, params)
    for response in (first, second):
        response["solver"].pop("seconds")
    assert first == second


@pytest.mark.slow
@SETTINGS
@given(raw=solve_requests(max_locations=5, max_orders=5, max_lines=2, max_quantity=3))
def test_the_one_pass_bound_never_exceeds_the_exact_optimum(raw: dict[str, Any]) -> None:
    data, x, reference = at_the_optimum(raw)
    assert line_bound(data, x) <= reference.cost + 1e-6 * max(1.0, reference.cost)
    # priced by a master's first round (cut short, as at M in 10 s), or by any duals of the
    # right signs: the stock and capacity rows are then relaxed, not dropped
    first_round, _ = cost_bound(data, x, deadline=time.perf_counter() + 60, max_iterations=1)
    rng = np.random.default_rng(len(reference.allocations))
    for duals in (first_round.duals, random_duals(data, rng)):
        if duals is None:
            continue  # (no master: nothing to price with)
        priced = line_bound(data, x, duals=duals)
        assert priced <= reference.cost + 1e-6 * max(1.0, reference.cost)


def test_the_one_pass_bound_is_below_the_relaxation_and_the_same_by_chunks() -> None:
    data = build_problem(parse_solve_request(_generated(300, 30, 200, 7)))
    x = greedy_allocate(data, preference="cheapest")
    relaxed, _ = cost_bound(data, x, deadline=time.perf_counter() + 120)
    one_pass = line_bound(data, x)
    assert 0.0 < one_pass <= relaxed.value + 1e-6
    assert line_bound(data, x, chunk_lines=17) == pytest.approx(one_pass, rel=1e-12)
    assert relaxed.duals is not None
    priced = line_bound(data, x, duals=relaxed.duals)
    assert priced <= relaxed.value + 1e-6
    assert line_bound(data, x, duals=relaxed.duals, chunk_lines=17) == pytest.approx(
        priced, rel=1e-12
    )


def test_the_priced_one_pass_bound_beats_the_plain_one_at_a_first_round_s_duals() -> None:
    # a master cut short after its first round: its Lagrangian bound is weak (each line's
    # row relaxed), the one-pass bound priced by its stock and capacity duals is not
    data = build_problem(parse_solve_request(_generated(2_000, 60, 800, 3)))
    x = greedy_allocate(data, preference="cheapest")
    first_round, _ = cost_bound(data, x, deadline=time.perf_counter() + 120, max_iterations=1)
    assert first_round.duals is not None
    priced = line_bound(data, x, duals=first_round.duals)
    assert priced > max(line_bound(data, x), first_round.value)
