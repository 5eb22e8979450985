"""Polish (engine/polish.py): whole orders moved to a cheaper single location, fill untouched."""

from __future__ import annotations

import numpy as np
import pytest

from engine.checker import assert_valid
from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.optimizer import allocation_cost
from engine.polish import rehome_orders
from engine.problem import build_problem
from engine.result import SolverInfo, build_response
from models.validation import parse_solve_request
from tests.builders import PROVIDENCE, WORCESTER, location, request, ship_order, stock


def _line_units(data, x):  # type: ignore[no-untyped-def]
    return np.bincount(data.candidate_line, weights=x, minlength=data.n_lines)


def _respond(data, x):  # type: ignore[no-untyped-def]
    cost = allocation_cost(data, x)
    return build_response(data, x, SolverInfo("test", False, cost, 0.0, 1.0, 0.0, "optimal"))


def test_a_split_order_moves_to_the_one_location_that_has_it_all() -> None:
    raw = request(
        [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)],
        [stock("S1", "A", 1), stock("S1", "B", 1), stock("S2", "A", 1), stock("S2", "B", 0)],
        [ship_order("O1", ("A", 1), ("B", 1))],
    )
    parsed = parse_solve_request(raw)
    data = build_problem(parsed)
    # A from S2, B from S1: two shipments where one would do.
    split = np.array(
        [
            1 if data.location_ids[loc] == ("S2" if line == 0 else "S1") else 0
            for line, loc in zip(data.candidate_line, data.candidate_location, strict=True)
        ]
    )
    polished = rehome_orders(data, split)
    assert allocation_cost(data, polished) < allocation_cost(data, split)
    assert {data.location_ids[loc] for loc in data.candidate_location[polished > 0]} == {"S1"}
    assert_valid(parsed, _respond(data, polished))


def test_two_lines_of_one_sku_never_take_more_than_the_row_holds() -> None:
    raw = request(
        [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER, shipment_cost=0.0)],
        [stock("S1", "A", 2), stock("S2", "A", 1)],
        [ship_order("O1", ("A", 1), ("A", 1))],
    )
    parsed = parse_solve_request(raw)
    data = build_problem(parsed)
    at_s1 = (data.candidate_location == data.location_ids.index("S1")).astype(np.int64)
    polished = rehome_orders(data, at_s1)
    # S2 is free to ship from but holds one unit: both lines cannot move there.
    assert_valid(parsed, _respond(data, polished))
    np.testing.assert_array_equal(_line_units(data, polished), _line_units(data, at_s1))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_polish_keeps_every_line_s_units_and_never_raises_cost(seed: int) -> None:
    raw = generate(Size(orders=300, locations=30, skus=200), seed)
    parsed = parse_solve_request(raw)
    data = build_problem(parsed)
    greedy = greedy_allocate(data)
    polished = rehome_orders(data, greedy)
    np.testing.assert_array_equal(_line_units(data, polished), _line_units(data, greedy))
    assert allocation_cost(data, polished) <= allocation_cost(data, greedy) + 1e-9
    assert_valid(parsed, _respond(data, polished))
