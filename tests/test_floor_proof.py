"""The floor proven optimal without a model: every priority at its trivial fill bound and the
cost at the one-pass bound (most checkout calls: one order, served whole from its cheapest
location). Anything short of that goes on to the stages."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from engine.measures import fill_by_priority
from engine.params import SolveParams
from engine.problem import build_problem
from engine.solve import optimise
from models.validation import parse_solve_request
from tests.builders import NEWARK, PROVIDENCE, location, request, ship_order, solved, stock
from tests.reference import reference_optimum
from tests.strategies import REPRODUCIBLE, solve_requests


def test_a_single_order_served_whole_from_its_cheapest_location_is_optimal_without_a_model() -> (
    None
):
    raw = request(
        [location("NEAR", at=PROVIDENCE), location("FAR", at=NEWARK)],
        [stock("NEAR", "A", 5), stock("NEAR", "B", 5), stock("FAR", "A", 5)],
        [ship_order("SO-1", ("A", 2), ("B", 1))],
    )
    found = optimise(build_problem(parse_solve_request(raw)), SolveParams())
    assert found.stages is None and found.search is None  # no model was built
    assert found.optimal and found.fill_proven
    assert found.bound == found.objective
    response = solved(raw)
    assert response["solver"]["status"] == "optimal"
    assert response["solver"]["gap"] == 0.0


def test_a_floor_short_of_the_trivial_fill_goes_on_to_the_stages() -> None:
    # two orders want the last unit of A: the trivial bound (3 units) is out of reach
    raw = request(
        [location("NEAR", at=PROVIDENCE)],
        [stock("NEAR", "A", 2)],
        [ship_order("SO-1", ("A", 2)), ship_order("SO-2", ("A", 1))],
    )
    found = optimise(build_problem(parse_solve_request(raw)), SolveParams())
    assert found.stages is not None
    assert found.optimal


@settings(REPRODUCIBLE, max_examples=120)
@given(solve_requests(max_orders=2))
def test_a_floor_is_only_called_optimal_when_it_is_the_optimum(raw: dict[str, Any]) -> None:
    parsed = parse_solve_request(raw)
    data = build_problem(parsed)
    if data.n_candidates == 0:
        return
    found = optimise(data, SolveParams())
    if found.stages is not None or found.search is not None:
        return  # not the floor's proof
    optimum = reference_optimum(parsed)
    assert found.optimal
    wanted = {p: optimum.fill_by_priority.get(p, 0) for p in data.priorities}
    assert fill_by_priority(data, found.x) == wanted
    # relative_gap 0: the floor is called optimal only at the optimum's cost
    assert found.objective <= optimum.cost * (1 + 1e-9) + 1e-6
    assert found.bound <= optimum.cost + 1e-6
