"""``solve(request) -> response``: the one call of the contract, as a pure function.

Build the problem arrays once, allocate with the strategy the policy names (the optimiser by
default, the greedy baseline on request), write the response. The greedy allocation is computed
either way: it is the optimiser's floor and fallback.
"""

from __future__ import annotations

import time
from typing import Any

from engine.greedy import greedy_allocate
from engine.optimizer import (
    DEFAULT_BACKEND,
    allocation_cost,
    lexicographically_better,
    optimise,
    searched_whole,
)
from engine.polish import rehome_orders
from engine.problem import IntArray, ProblemData, build_problem
from engine.result import SolverInfo, build_response
from models.solve import SolveRequest


def solve(request: SolveRequest, *, backend: str = DEFAULT_BACKEND) -> dict[str, Any]:
    """Allocate a validated request; returns the contract's response as a JSON-ready dict.

    Raises ``ValueError`` for an unknown backend (``highs``, ``scip``, ``sat``).
    """
    started = time.perf_counter()
    data = build_problem(request)
    return solve_problem(data, backend=backend, started=started)


def solve_problem(
    data: ProblemData, *, backend: str = DEFAULT_BACKEND, started: float | None = None
) -> dict[str, Any]:
    """As :func:`solve`, for problem data already built (what-if variants, benchmarks)."""
    started = time.perf_counter() if started is None else started
    floor = greedy_allocate(data)  # the OMS rules: nearest location first
    if data.strategy == "greedy":
        return greedy_response(data, floor, "omnibroker/greedy", started)

    # The optimiser's floor: the better of the rules ranking locations by distance and by cost.
    by_cost = greedy_allocate(data, preference="cheapest")
    if lexicographically_better(data, by_cost, floor):
        floor = by_cost
    del by_cost  # one allocation per candidate held from here on, not two
    if not searched_whole(data):
        # The stages start from the floor polished (a moment at this size; up to a fifth of the
        # time limit). A larger batch goes to the neighbourhood search, whose neighbourhoods
        # make the polish's moves and more: polishing first would only take its time.
        floor = rehome_orders(data, floor, deadline=time.perf_counter() + 0.2 * data.time_limit_s)
    elapsed = time.perf_counter() - started
    result = optimise(data, floor=floor, backend=backend, time_limit_s=data.time_limit_s - elapsed)
    info = SolverInfo(
        name=f"or-tools/{result.backend}",
        optimal=result.optimal,
        objective=result.objective,
        bound=result.bound,
        gap=result.gap,
        seconds=time.perf_counter() - started,
        strategy="optimal",
    )
    return build_response(data, result.x, info)


def greedy_response(data: ProblemData, x: IntArray, name: str, started: float) -> dict[str, Any]:
    """The response for a greedy allocation: feasible, proving nothing."""
    cost = allocation_cost(data, x)
    # The baseline proves nothing: its bound is the trivial one, costs are never negative.
    info = SolverInfo(
        name=name,
        optimal=False,
        objective=cost,
        bound=0.0,
        gap=1.0 if cost > 0 else 0.0,
        seconds=time.perf_counter() - started,
        strategy="greedy",
    )
    return build_response(data, x, info)
