"""The fill relaxation (engine/fill_bound.py) and the search's planned neighbourhoods: the upper
bound on a priority's fill never falls below the independent exact optimum's, a plan proves a fill
only where it is the optimum's, and a planned neighbourhood holds what its plan moves."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from engine import fill_bound
from engine.fill_bound import FillPlanner, fill_relaxation, integer_bound_settled
from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.lns import MAX_PLANNED_ORDERS, _Index, _planned_orders
from engine.measures import fill_by_priority
from engine.params import SolveParams
from engine.problem import ProblemData, build_problem
from engine.solve import optimise
from models.solve import SolveRequest
from models.validation import parse_solve_request
from tests.reference import reference_optimum
from tests.strategies import REPRODUCIBLE, solve_requests

SETTINGS = settings(REPRODUCIBLE, max_examples=60)
REQUESTS = solve_requests(max_locations=5, max_orders=5, max_lines=2, max_quantity=3)


def _deadline() -> float:
    return time.perf_counter() + 60.0


def _problem(raw: dict[str, Any]) -> tuple[SolveRequest, ProblemData] | None:
    """The request and its problem arrays; None when nothing can be allocated at all."""
    request = parse_solve_request(raw)
    data = build_problem(request)
    return (request, data) if data.n_candidates else None


@SETTINGS
@given(raw=REQUESTS)
def test_the_highest_priority_fill_never_exceeds_its_relaxation(raw: dict[str, Any]) -> None:
    # nothing is held above the highest priority: its bound holds at any allocation
    if (problem := _problem(raw)) is None:
        return
    request, data = problem
    highest = data.priorities[0]
    relaxation, _ = fill_relaxation(data, greedy_allocate(data), highest, deadline=_deadline())
    assert relaxation.upper >= reference_optimum(request).fill_by_priority.get(highest, 0)


@SETTINGS
@given(raw=REQUESTS)
def test_a_relaxation_bounds_its_priority_at_the_optimum_s_higher_fills(
    raw: dict[str, Any],
) -> None:
    # at an allocation with the optimum's fill, every priority's bound is at least the optimum's
    if (problem := _problem(raw)) is None:
        return
    request, data = problem
    x = optimise(data, SolveParams()).x
    optimum = reference_optimum(request).fill_by_priority
    assert fill_by_priority(data, x) == {p: optimum.get(p, 0) for p in data.priorities}
    for priority in data.priorities:
        relaxation, _ = fill_relaxation(data, x, priority, deadline=_deadline())
        assert relaxation.upper >= optimum.get(priority, 0)


@SETTINGS
@given(raw=REQUESTS)
def test_a_plan_proves_a_fill_only_when_it_is_the_optimum_s(raw: dict[str, Any]) -> None:
    if (problem := _problem(raw)) is None:
        return
    request, data = problem
    optimum = reference_optimum(request).fill_by_priority
    for x in (greedy_allocate(data), optimise(data, SolveParams()).x):
        plan = FillPlanner(data).plan(x, deadline=_deadline())
        if plan.proven:
            assert plan.fill == {p: optimum.get(p, 0) for p in data.priorities}


def test_a_master_kept_between_plans_gives_the_bound_of_a_new_one() -> None:
    # the second plan starts from the first one's basis, at another allocation
    data = build_problem(parse_solve_request(generate(Size(300, 20, 150), 3)))
    floor = greedy_allocate(data)
    better = optimise(data, SolveParams()).x
    planner = FillPlanner(data)
    planner.plan(floor, deadline=_deadline())
    kept = planner.plan(better, deadline=_deadline())
    new = FillPlanner(data).plan(better, deadline=_deadline())
    assert [r.upper for r in kept.relaxations] == [r.upper for r in new.relaxations]
    assert kept.proven == new.proven


def test_a_relaxation_stopped_once_its_whole_unit_bound_is_settled_gives_the_converged_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the rounds a settled relaxation skips could only move its bound within one unit
    for seed in (1, 2, 3):
        data = build_problem(parse_solve_request(generate(Size(400, 20, 150), seed)))
        x = greedy_allocate(data)
        settled = FillPlanner(data).plan(x, deadline=_deadline())
        with monkeypatch.context() as patch:
            patch.setattr(fill_bound, "integer_bound_settled", lambda best, master_value: False)
            converged = FillPlanner(data).plan(x, deadline=_deadline())
        assert [r.upper for r in settled.relaxations] == [r.upper for r in converged.relaxations]
        assert all(r.converged for r in converged.relaxations)
        assert sum(r.iterations for r in settled.relaxations) <= sum(
            r.iterations for r in converged.relaxations
        )


def test_a_whole_unit_bound_is_settled_only_when_no_round_can_lower_it() -> None:
    # -best >= -LP >= -master: once both floor to the same unit, no later bound floors lower
    assert integer_bound_settled(best=-18434.4, master_value=-18434.0)
    assert not integer_bound_settled(best=-18435.2, master_value=-18434.9)
    # (solver noise just under a whole unit counts as that unit)
    assert integer_bound_settled(best=-18434.0000001, master_value=-18433.9999999)


def test_a_plan_leaves_the_lower_priorities_units_where_they_are() -> None:
    # they only take stock from the priority planned: the plan is not theirs to move
    data = build_problem(parse_solve_request(generate(Size(300, 15, 100), 2)))
    x = greedy_allocate(data)
    line_priority = data.line_priority[data.candidate_line]
    for relaxation in FillPlanner(data).plan(x, deadline=_deadline()).relaxations:
        lower = line_priority < relaxation.priority
        assert np.array_equal(relaxation.plan[lower], x[lower])
        assert not set(relaxation.held) & {p for p in data.priorities if p <= relaxation.priority}


def test_a_planned_neighbourhood_holds_the_orders_the_plan_moves_and_the_stock_holders() -> None:
    data = build_problem(parse_solve_request(generate(Size(400, 20, 150), 5)))
    x = greedy_allocate(data)
    plan = FillPlanner(data).plan(x, deadline=_deadline())
    moves = plan.moves()
    index = _Index(data, x)
    busy = np.zeros(data.n_orders, dtype=bool)
    orders = _planned_orders(data, index, x, moves, busy, np.random.default_rng(0))
    moved = np.unique(index.candidate_order[moves.changed])
    assert moved.size > 0  # the greedy floor leaves fill the plan finds
    assert np.isin(moved, orders).all() or orders.size == MAX_PLANNED_ORDERS
    taken_rows = np.unique(data.candidate_inventory[moves.takes_more])
    held = index.candidates_at(taken_rows)
    holders = np.unique(index.candidate_order[held[x[held] > 0]])
    assert np.isin(holders, orders).all() or orders.size == MAX_PLANNED_ORDERS
    # an order another neighbourhood holds is never in it
    busy[orders[:3]] = True
    again = _planned_orders(data, index, x, moves, busy, np.random.default_rng(0))
    assert not np.isin(orders[:3], again).any()
