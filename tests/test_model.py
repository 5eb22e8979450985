"""The MIP's constraint families (engine/model.py), one at a time: on a tiny instance, an
allocation that keeps the rule is feasible and one that breaks it is not."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.model import allocation_is_feasible, build_model, cost_objective
from engine.problem import IntArray, ProblemData, build_problem
from models.validation import parse_solve_request
from tests.builders import PROVIDENCE, WORCESTER, location, request, ship_order, stock


def _data(raw: dict[str, Any]) -> ProblemData:
    return build_problem(parse_solve_request(raw))


def _x(data: ProblemData, plan: dict[tuple[str, str, str], int]) -> IntArray:
    """Units per (order id, line id, location id)."""
    x = np.zeros(data.n_candidates, dtype=np.int64)
    for c in range(data.n_candidates):
        line = int(data.candidate_line[c])
        key = (
            data.order_ids[int(data.line_order[line])],
            data.line_ids[line],
            data.location_ids[int(data.candidate_location[c])],
        )
        x[c] = plan.get(key, 0)
    return x


def _feasible(data: ProblemData, plan: dict[tuple[str, str, str], int]) -> bool:
    model = build_model(data)
    return allocation_is_feasible(data, model, _x(data, plan), model.row_lower)


TWO_STORES = [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)]


def test_stock_rows_keep_a_location_within_its_inventory() -> None:
    data = _data(
        request(
            TWO_STORES,
            [stock("S1", "A", 1)],
            [ship_order("O1", ("A", 1)), ship_order("O2", ("A", 1))],
        )
    )
    assert _feasible(data, {("O1", "1", "S1"): 1})
    assert not _feasible(data, {("O1", "1", "S1"): 1, ("O2", "1", "S1"): 1})


def test_line_rows_keep_a_line_within_its_quantity() -> None:
    data = _data(
        request(
            TWO_STORES, [stock("S1", "A", 5), stock("S2", "A", 5)], [ship_order("O1", ("A", 2))]
        )
    )
    assert _feasible(data, {("O1", "1", "S1"): 1, ("O1", "1", "S2"): 1})
    assert not _feasible(data, {("O1", "1", "S1"): 2, ("O1", "1", "S2"): 1})


def test_no_split_rows_keep_an_order_at_one_location() -> None:
    data = _data(
        request(
            TWO_STORES,
            [stock("S1", "A", 1), stock("S2", "B", 1), stock("S2", "A", 1)],
            [ship_order("O1", ("A", 1), ("B", 1), allow_split=False)],
        )
    )
    assert _feasible(data, {("O1", "1", "S2"): 1, ("O1", "2", "S2"): 1})
    assert not _feasible(data, {("O1", "1", "S1"): 1, ("O1", "2", "S2"): 1})


def test_all_or_nothing_rows_serve_every_line_whole_or_none() -> None:
    data = _data(
        request(
            TWO_STORES,
            [stock("S1", "A", 1), stock("S1", "B", 1)],
            [ship_order("O1", ("A", 1), ("B", 2), allow_partial=False)],
        )
    )
    assert _feasible(data, {})
    assert not _feasible(data, {("O1", "1", "S1"): 1, ("O1", "2", "S1"): 1})


def test_shipment_capacity_rows_count_orders_served() -> None:
    stores = [location("S1", at=PROVIDENCE, max_shipments=1), location("S2", at=WORCESTER)]
    data = _data(
        request(
            stores, [stock("S1", "A", 5)], [ship_order("O1", ("A", 1)), ship_order("O2", ("A", 1))]
        )
    )
    assert _feasible(data, {("O1", "1", "S1"): 1})
    assert not _feasible(data, {("O1", "1", "S1"): 1, ("O2", "1", "S1"): 1})


def test_unit_capacity_rows_count_units() -> None:
    stores = [location("S1", at=PROVIDENCE, max_units=2), location("S2", at=WORCESTER)]
    data = _data(request(stores, [stock("S1", "A", 5)], [ship_order("O1", ("A", 3))]))
    assert _feasible(data, {("O1", "1", "S1"): 2})
    assert not _feasible(data, {("O1", "1", "S1"): 3})


def test_fill_rows_hold_a_priority_at_the_fill_reached() -> None:
    data = _data(
        request(TWO_STORES, [stock("S1", "A", 5)], [ship_order("O1", ("A", 2), priority=1)])
    )
    model = build_model(data)
    row_lower = model.row_lower.copy()
    row_lower[model.fill_rows[1]] = 2.0
    assert allocation_is_feasible(data, model, _x(data, {("O1", "1", "S1"): 2}), row_lower)
    assert not allocation_is_feasible(data, model, _x(data, {("O1", "1", "S1"): 1}), row_lower)


def test_cost_objective_is_shipments_plus_unit_costs() -> None:
    stores = [location("S1", at=PROVIDENCE, unit_cost=0.5, shipment_cost=7.0)]
    data = _data(
        request(stores, [stock("S1", "A", 5)], [ship_order("O1", ("A", 2))], cost_per_km=0.0)
    )
    model = build_model(data)
    columns = model.columns_of(data, _x(data, {("O1", "1", "S1"): 2}))
    assert float(cost_objective(data, model) @ columns) == 7.0 + 2 * 0.5
