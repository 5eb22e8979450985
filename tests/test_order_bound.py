"""The order bound (engine.order_bound): the Lagrangian that keeps each order's shipments whole.

It must hold (never above the exact optimum, whatever the duals), and it must be worth its time:
at the relaxation's own duals never below the relaxation, and above it where orders share or
split shipments.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from engine.bound import cost_bound
from engine.checker import assert_valid
from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.measures import allocation_cost
from engine.order_bound import FILL_PRICE_STEPS, order_bound
from engine.params import SolveParams
from engine.problem import build_problem
from engine.solve import solve
from models.validation import parse_solve_request
from tests.builders import (
    allocation_of,
    at_the_optimum,
    location,
    random_duals,
    request,
    ship_order,
    stock,
)
from tests.reference import reference_optimum
from tests.strategies import REPRODUCIBLE, solve_requests


@pytest.mark.slow
@settings(REPRODUCIBLE, max_examples=80)
# three lines of up to 3 units: thin lines (a location with part of a line), orders of more
# slots than are priced exactly, all-or-nothing and no-split orders, pickups
@given(raw=solve_requests(max_locations=5, max_orders=5, max_lines=3, max_quantity=3))
def test_the_order_bound_never_exceeds_the_exact_optimum(raw: dict[str, Any]) -> None:
    data, x, reference = at_the_optimum(raw)
    ceiling = reference.cost + 1e-6 * max(1.0, reference.cost)
    assert order_bound(data, x) <= ceiling
    relaxed, _ = cost_bound(data, x, deadline=time.perf_counter() + 60)
    first_round, _ = cost_bound(data, x, deadline=time.perf_counter() + 60, max_iterations=1)
    rng = np.random.default_rng(len(reference.allocations))
    for duals in (
        relaxed.duals,
        first_round.duals,
        random_duals(data, rng),
        random_duals(data, rng, fill=True),
    ):
        if duals is not None:
            assert order_bound(data, x, duals=duals) <= ceiling


def test_at_the_relaxation_s_duals_the_order_bound_is_above_the_relaxation() -> None:
    # orders of several lines sharing shipments, thin store stock: the LP pays fractions of
    # shipments, the order bound whole ones
    data = build_problem(parse_solve_request(generate(Size(orders=300, locations=30, skus=200), 7)))
    x = greedy_allocate(data, preference="cheapest")
    relaxed, _ = cost_bound(data, x, deadline=time.perf_counter() + 120)
    assert relaxed.converged and relaxed.duals is not None
    assert order_bound(data, x, duals=relaxed.duals) > relaxed.value * 1.001
    # and it stays a bound on what the greedy rules pay there
    assert order_bound(data, x, duals=relaxed.duals) <= allocation_cost(data, x)


def _three_skus_over_three_stores() -> dict[str, Any]:
    """One order of three lines, three stores with two of its three skus each."""
    stores = [
        location("XY", at=(40.75, -73.99)),
        location("YZ", at=(40.76, -73.98)),
        location("XZ", at=(40.74, -73.98)),
    ]
    stock_rows = [stock(store["id"], sku, 5) for store in stores for sku in store["id"]]
    return request(stores, stock_rows, [ship_order("O", ("X", 1), ("Y", 1), ("Z", 1))])


def test_an_order_pays_whole_shipments_where_the_relaxation_pays_halves() -> None:
    # three lines, three stores with two of the three skus each: any plan ships twice, the LP
    # ships half of each store's shipment (each line from two halves)
    raw = _three_skus_over_three_stores()
    request_ = parse_solve_request(raw)
    reference = reference_optimum(request_)
    data = build_problem(request_)
    x = allocation_of(data, reference.allocations)
    relaxed, _ = cost_bound(data, x, deadline=time.perf_counter() + 60)
    assert relaxed.value < 0.9 * reference.cost
    # (the fill price searched to its end: from the relaxation's duals the engine takes two
    # steps, which at M find as much as eight and here stop short of the whole shipments)
    whole = order_bound(data, x, duals=relaxed.duals, steps=FILL_PRICE_STEPS)
    assert whole == pytest.approx(reference.cost, rel=1e-9)
    assert relaxed.value < order_bound(data, x, duals=relaxed.duals) <= whole


def test_the_order_bound_is_the_same_twice() -> None:
    data = build_problem(parse_solve_request(generate(Size(orders=200, locations=20, skus=100), 3)))
    x = greedy_allocate(data)
    relaxed, _ = cost_bound(data, x, deadline=time.perf_counter() + 60, max_iterations=2)
    assert order_bound(data, x, duals=relaxed.duals) == order_bound(data, x, duals=relaxed.duals)


def test_the_answer_s_bound_keeps_orders_whole() -> None:
    # the search's path (no model of the whole batch), deterministic: the relaxation converges
    # in its rounds, and the answer's bound is the order bound at its duals, above the LP's
    raw = generate(Size(orders=300, locations=30, skus=200), 7)
    request_ = parse_solve_request(raw)
    params = SolveParams(search_above_candidates=0, deterministic=True, neighbourhoods=6)
    response = solve(request_, params)
    assert_valid(request_, response)
    data = build_problem(request_)
    x = allocation_of(data, response["allocations"])
    relaxed, _ = cost_bound(data, x, deadline=time.perf_counter() + 120)
    assert relaxed.converged
    assert response["solver"]["bound"] > relaxed.value * 1.001


def test_a_deadline_cuts_the_fill_price_search_never_the_pass_at_the_duals_own_prices() -> None:
    # the single order of whole shipments: the search of the fill price finds them, the
    # relaxation's own price alone does not; past its deadline only that one pass runs
    raw = _three_skus_over_three_stores()
    data = build_problem(parse_solve_request(raw))
    x = greedy_allocate(data)
    relaxed, _ = cost_bound(data, x, deadline=time.perf_counter() + 60)
    at_own_prices = order_bound(data, x, duals=relaxed.duals, steps=0)
    assert order_bound(data, x, duals=relaxed.duals, deadline=time.perf_counter()) == (
        at_own_prices
    )
    assert at_own_prices >= relaxed.value - 1e-9
    assert order_bound(data, x, duals=relaxed.duals, deadline=time.perf_counter() + 60) > (
        at_own_prices
    )
