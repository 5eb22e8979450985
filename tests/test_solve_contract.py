"""The solve contract, rule by rule (shared/contract/solve.md). Every response is also checked by
the independent checker (tests.builders.solved)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.geo import haversine_km
from models.validation import parse_solve_request
from tests.builders import (
    BOSTON,
    MANHATTAN,
    NEWARK,
    PROVIDENCE,
    WORCESTER,
    location,
    locations_of,
    pickup_order,
    reason_of,
    request,
    ship_order,
    solved,
    stock,
    units,
)

DATA = Path(__file__).parent / "data"


# --- the contract's example -------------------------------------------------------------------


def test_contract_example_request_gives_contract_example_response() -> None:
    raw = json.loads((DATA / "contract_example_request.json").read_text())
    expected = json.loads((DATA / "contract_example_response.json").read_text())
    response = solved(raw)
    for key in ("allocations", "unallocated", "remaining", "shipments"):
        assert response[key] == expected[key], key
    summary = {k: v for k, v in response["summary"].items() if k in expected["summary"]}
    assert summary == expected["summary"]
    for key in ("status", "objective", "bound", "gap"):
        assert response["solver"][key] == expected["solver"][key], key


def test_haversine_uses_earth_radius_6371() -> None:
    assert round(float(haversine_km(*NEWARK, BOSTON["lat"], BOSTON["lon"])), 2) == 315.94
    assert round(float(haversine_km(*MANHATTAN, BOSTON["lat"], BOSTON["lon"])), 2) == 302.44


# --- what an allocation must respect ------------------------------------------------------------


def test_no_location_gives_more_than_its_inventory() -> None:
    response = solved(
        request(
            [location("S1")],
            [stock("S1", "A", 3)],
            [ship_order("O1", ("A", 2)), ship_order("O2", ("A", 2))],
        )
    )
    assert response["summary"]["units_allocated"] == 3
    assert response["remaining"] == [{"location_id": "S1", "sku": "A", "quantity": 0}]


def test_no_line_gets_more_than_its_quantity() -> None:
    response = solved(
        request([location("S1")], [stock("S1", "A", 10)], [ship_order("O1", ("A", 2))])
    )
    assert units(response, "O1") == 2


def test_ship_order_is_served_only_by_locations_that_ship() -> None:
    response = solved(
        request(
            [location("NOSHIP", ships=False, at=PROVIDENCE), location("FAR", at=NEWARK)],
            [stock("NOSHIP", "A", 5), stock("FAR", "A", 5)],
            [ship_order("O1", ("A", 2))],
        )
    )
    assert locations_of(response, "O1") == {"FAR"}


def test_ship_order_is_served_only_within_the_policy_max_distance() -> None:
    response = solved(
        request(
            [location("NEAR", at=PROVIDENCE), location("FAR", at=NEWARK)],
            [stock("NEAR", "A", 1), stock("FAR", "A", 5)],
            [ship_order("O1", ("A", 3))],
            max_distance_km=100.0,
        )
    )
    assert locations_of(response, "O1") == {"NEAR"}
    assert reason_of(response, "O1") == "out_of_stock"


def test_order_max_distance_overrides_the_policy() -> None:
    raw = request(
        [location("FAR", at=NEWARK)],
        [stock("FAR", "A", 5)],
        [ship_order("O1", ("A", 1), max_distance_km=400.0), ship_order("O2", ("A", 1))],
        max_distance_km=100.0,
    )
    response = solved(raw)
    assert units(response, "O1") == 1
    assert units(response, "O2") == 0
    assert reason_of(response, "O2") == "no_eligible_location"


def test_distance_limit_is_inclusive() -> None:
    exact = float(haversine_km(*NEWARK, BOSTON["lat"], BOSTON["lon"]))
    response = solved(
        request(
            [location("WH", "warehouse", at=NEWARK)],
            [stock("WH", "A", 1)],
            [ship_order("O1", ("A", 1), max_distance_km=exact)],
        )
    )
    assert units(response, "O1") == 1


def test_distance_limit_never_applies_to_pickup_orders() -> None:
    response = solved(
        request(
            [location("S1", at=NEWARK)],
            [stock("S1", "A", 1)],
            [pickup_order("P1", "S1", ("A", 1), max_distance_km=1.0)],
            max_distance_km=1.0,
        )
    )
    assert units(response, "P1", "S1") == 1


def test_pickup_order_is_only_served_by_its_pickup_location() -> None:
    response = solved(
        request(
            [location("S1"), location("S2"), location("WH", "warehouse", at=NEWARK)],
            [stock("S1", "A", 1), stock("S2", "A", 5), stock("WH", "A", 5)],
            [pickup_order("P1", "S1", ("A", 3))],
        )
    )
    assert locations_of(response, "P1") == {"S1"}
    assert units(response, "P1") == 1
    assert reason_of(response, "P1") == "out_of_stock"


def test_no_order_is_served_by_a_location_in_its_exclude_location_ids() -> None:
    response = solved(
        request(
            [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)],
            [stock("S1", "A", 5), stock("S2", "A", 5)],
            [
                ship_order("O1", ("A", 2), exclude_location_ids=["S2"]),
                ship_order("O2", ("A", 2)),
            ],
        )
    )
    # S2 (Worcester) is the nearer to Boston: O2 ships from it, O1 may not.
    assert locations_of(response, "O1") == {"S1"}
    assert units(response, "O1") == 2
    assert locations_of(response, "O2") == {"S2"}


def test_excluded_pickup_location_leaves_the_pickup_order_unserved() -> None:
    for strategy in ("optimal", "greedy"):
        response = solved(
            request(
                [location("S1"), location("WH", "warehouse", at=NEWARK)],
                [stock("S1", "A", 5), stock("WH", "A", 5)],
                [pickup_order("P1", "S1", ("A", 1), exclude_location_ids=["S1"])],
                strategy=strategy,
            )
        )
        assert units(response, "P1") == 0
        assert reason_of(response, "P1") == "no_eligible_location"


def test_no_split_order_is_served_by_at_most_one_location() -> None:
    response = solved(
        request(
            [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)],
            [stock("S1", "A", 1), stock("S2", "B", 1)],
            [ship_order("O1", ("A", 1), ("B", 1), allow_split=False)],
        )
    )
    assert len(locations_of(response, "O1")) == 1
    assert response["summary"]["split_orders"] == 0
    assert reason_of(response, "O1", "1") or reason_of(response, "O1", "2") == "cannot_split"


def test_all_or_nothing_order_gets_every_unit_or_nothing() -> None:
    response = solved(
        request(
            [location("S1")],
            [stock("S1", "A", 5), stock("S1", "B", 1)],
            [ship_order("O1", ("A", 2), ("B", 2), allow_partial=False)],
        )
    )
    assert units(response, "O1") == 0
    assert reason_of(response, "O1", "1") == "all_or_nothing"
    assert reason_of(response, "O1", "2") == "out_of_stock"


def test_all_or_nothing_order_is_served_complete_when_it_can_be() -> None:
    response = solved(
        request(
            [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)],
            [stock("S1", "A", 1), stock("S2", "A", 1)],
            [ship_order("O1", ("A", 2), allow_partial=False)],
        )
    )
    assert units(response, "O1") == 2


def test_max_shipments_counts_pickup_orders_too() -> None:
    response = solved(
        request(
            [location("S1", max_shipments=1)],
            [stock("S1", "A", 5)],
            [pickup_order("P1", "S1", ("A", 1), priority=1), ship_order("O1", ("A", 1))],
        )
    )
    assert units(response, "P1") == 1
    assert units(response, "O1") == 0
    assert reason_of(response, "O1") == "capacity"


def test_max_units_caps_a_location() -> None:
    response = solved(
        request(
            [location("S1", max_units=3)],
            [stock("S1", "A", 10)],
            [ship_order("O1", ("A", 2)), ship_order("O2", ("A", 2))],
        )
    )
    assert response["summary"]["units_allocated"] == 3
    assert sorted(row["reason"] for row in response["unallocated"]) == ["capacity"]


def test_location_with_zero_capacity_serves_nothing() -> None:
    response = solved(
        request(
            [location("S1", max_units=0), location("S2", max_shipments=0)],
            [stock("S1", "A", 10), stock("S2", "A", 10)],
            [ship_order("O1", ("A", 2))],
        )
    )
    assert units(response, "O1") == 0


# --- what is optimal ----------------------------------------------------------------------------


def test_fill_by_priority_serves_the_higher_priority_first() -> None:
    response = solved(
        request(
            [location("S1")],
            [stock("S1", "A", 2)],
            [ship_order("LOW", ("A", 2), priority=0), ship_order("HIGH", ("A", 2), priority=5)],
        )
    )
    assert units(response, "HIGH") == 2
    assert reason_of(response, "LOW") == "outranked"


def test_fill_by_priority_then_lower_priorities_get_what_is_left() -> None:
    response = solved(
        request(
            [location("S1"), location("S2", at=PROVIDENCE)],
            [stock("S1", "A", 2), stock("S2", "A", 1)],
            [
                ship_order("HIGH", ("A", 2), priority=2),
                pickup_order("MID", "S1", ("A", 1), priority=1),
                ship_order("LOW", ("A", 1), priority=0),
            ],
        )
    )
    # HIGH takes 2 of 3; to keep the pickup (only S1) served, HIGH takes S2's unit and one of S1.
    assert units(response, "HIGH") == 2
    assert units(response, "MID") == 1
    assert units(response, "LOW") == 0


def test_fill_beats_cost() -> None:
    # One shipment from the store would be cheaper, but splitting leaves its second unit for
    # the pickup order: the contract's own example, in miniature.
    response = solved(
        request(
            [location("WH", "warehouse", at=NEWARK), location("S1", unit_cost=0.5)],
            [stock("WH", "A", 1), stock("S1", "A", 2)],
            [ship_order("O1", ("A", 2), priority=1), pickup_order("P1", "S1", ("A", 1))],
        )
    )
    assert response["summary"]["units_allocated"] == 3
    assert response["summary"]["split_orders"] == 1


def test_least_cost_after_fill_prefers_the_nearer_location() -> None:
    response = solved(
        request(
            [location("FAR", at=NEWARK), location("NEAR", at=PROVIDENCE)],
            [stock("FAR", "A", 5), stock("NEAR", "A", 5)],
            [ship_order("O1", ("A", 2))],
        )
    )
    assert locations_of(response, "O1") == {"NEAR"}


def test_least_cost_avoids_a_split_when_one_location_can_serve() -> None:
    response = solved(
        request(
            [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)],
            [stock("S1", "A", 1), stock("S1", "B", 1), stock("S2", "A", 1), stock("S2", "B", 0)],
            [ship_order("O1", ("A", 1), ("B", 1))],
        )
    )
    assert locations_of(response, "O1") == {"S1"}
    assert response["summary"]["shipments"] == 1


def test_unit_cost_counts_in_the_choice_of_location() -> None:
    response = solved(
        request(
            [location("CHEAP", at=WORCESTER), location("DEAR", at=PROVIDENCE, unit_cost=5.0)],
            [stock("CHEAP", "A", 5), stock("DEAR", "A", 5)],
            [ship_order("O1", ("A", 4))],
        )
    )
    assert locations_of(response, "O1") == {"CHEAP"}


# --- costs and the response -----------------------------------------------------------------------


def test_pickup_shipment_costs_nothing_but_its_units_cost_their_unit_cost() -> None:
    response = solved(
        request(
            [location("S1", unit_cost=0.75)],
            [stock("S1", "A", 2)],
            [pickup_order("P1", "S1", ("A", 2))],
        )
    )
    assert response["shipments"] == [
        {"order_id": "P1", "location_id": "S1", "distance_km": 0.0, "cost": 0.0}
    ]
    assert response["summary"]["total_cost"] == 1.5


def test_location_shipment_cost_overrides_the_policy_cost_for_its_kind() -> None:
    response = solved(
        request(
            [location("S1", at=PROVIDENCE, shipment_cost=3.0)],
            [stock("S1", "A", 1)],
            [ship_order("O1", ("A", 1))],
            cost_per_km=0.0,
        )
    )
    assert response["shipments"][0]["cost"] == 3.0


def test_policy_shipment_cost_naming_one_kind_keeps_the_default_for_the_other() -> None:
    response = solved(
        request(
            [location("WH", "warehouse", at=NEWARK), location("S1", at=PROVIDENCE)],
            [stock("WH", "A", 1), stock("S1", "B", 1)],
            [ship_order("O1", ("A", 1)), ship_order("O2", ("B", 1))],
            shipment_cost={"store": 4.0},
            cost_per_km=0.0,
        )
    )
    cost = {s["order_id"]: s["cost"] for s in response["shipments"]}
    assert cost == {"O1": 8.0, "O2": 4.0}


def test_money_is_summed_unrounded_then_rounded() -> None:
    raw = json.loads((DATA / "contract_example_request.json").read_text())
    response = solved(raw)
    rounded_parts = sum(s["cost"] for s in response["shipments"]) + 2 * 0.5
    assert round(rounded_parts, 2) == 20.23
    assert response["summary"]["total_cost"] == 20.24


def test_remaining_has_one_row_per_inventory_row_and_no_others() -> None:
    response = solved(
        request(
            [location("S1"), location("S2", at=PROVIDENCE)],
            [stock("S2", "B", 0), stock("S1", "A", 4), stock("S2", "A", 1)],
            [ship_order("O1", ("A", 2), ("C", 1))],
        )
    )
    assert [(r["location_id"], r["sku"]) for r in response["remaining"]] == [
        ("S2", "B"),
        ("S1", "A"),
        ("S2", "A"),
    ]
    assert sum(r["quantity"] for r in response["remaining"]) == 3


def test_allocations_have_positive_quantities_only() -> None:
    response = solved(
        request([location("S1")], [stock("S1", "A", 1)], [ship_order("O1", ("A", 1), ("B", 1))])
    )
    assert all(a["quantity"] > 0 for a in response["allocations"])
    assert response["unallocated"] == [
        {"order_id": "O1", "line_id": "2", "quantity": 1, "reason": "out_of_stock"}
    ]


def test_split_orders_counts_orders_served_by_more_than_one_location() -> None:
    response = solved(
        request(
            [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)],
            [stock("S1", "A", 1), stock("S2", "A", 1)],
            [ship_order("O1", ("A", 2)), ship_order("O2", ("B", 1))],
        )
    )
    assert response["summary"]["split_orders"] == 1
    assert response["summary"]["shipments"] == 2


def test_empty_batch_is_answered() -> None:
    response = solved(request([location("S1")], [stock("S1", "A", 1)], []))
    assert response["allocations"] == []
    assert response["summary"]["orders"] == 0
    assert response["solver"]["status"] == "optimal"


# --- reasons ----------------------------------------------------------------------------------------


def test_reason_out_of_stock_when_no_location_holds_the_sku() -> None:
    response = solved(request([location("S1")], [], [ship_order("O1", ("A", 1))]))
    assert reason_of(response, "O1") == "out_of_stock"


def test_reason_no_eligible_location_when_stock_is_only_where_the_order_cannot_be_served() -> None:
    response = solved(
        request([location("S1", ships=False)], [stock("S1", "A", 3)], [ship_order("O1", ("A", 1))])
    )
    assert reason_of(response, "O1") == "no_eligible_location"


def test_reason_allocated_to_other_orders_at_equal_priority() -> None:
    response = solved(
        request(
            [location("S1")],
            [stock("S1", "A", 1)],
            [ship_order("O1", ("A", 1)), ship_order("O2", ("A", 1))],
        )
    )
    reasons = sorted(filter(None, (reason_of(response, "O1"), reason_of(response, "O2"))))
    assert reasons == ["allocated_to_other_orders"]


def test_reason_cannot_split_when_no_single_location_has_it_all() -> None:
    response = solved(
        request(
            [location("S1", at=PROVIDENCE), location("S2", at=WORCESTER)],
            [stock("S1", "A", 1), stock("S2", "A", 1)],
            [ship_order("O1", ("A", 2), allow_split=False)],
        )
    )
    assert units(response, "O1") == 1
    assert reason_of(response, "O1") == "cannot_split"


# --- time limit ---------------------------------------------------------------------------------


def test_time_limit_returns_the_best_allocation_found_with_bound_and_gap() -> None:
    from engine.checker import fill_by_priority
    from engine.generate import Size, generate

    raw = generate(Size(orders=400, locations=30, skus=200), seed=3)
    raw["policy"]["time_limit_s"] = 0.05
    response = solved(raw)  # the checker: bound <= objective, gap from both, the status' claim
    # The best allocation found: never below the greedy rules, whatever the time left.
    greedy = solved({**raw, "policy": {**raw["policy"], "strategy": "greedy"}})
    parsed = parse_solve_request(raw)
    priorities = sorted(fill_by_priority(parsed, response), reverse=True)
    assert [fill_by_priority(parsed, response)[p] for p in priorities] >= [
        fill_by_priority(parsed, greedy)[p] for p in priorities
    ]


# --- the answer, held to an independent optimum --------------------------------------------------
# tests/reference.py solves the contract's lexicographic objective as its own MILP on SciPy's
# HiGHS, priority by priority, from the contract's text and nothing of the engine.

SMALL = [pytest.param(seed, id=f"seed{seed}") for seed in range(1, 7)]


def _small(seed: int, relative_gap: float) -> dict[str, Any]:
    from engine.generate import Size, generate

    raw = generate(Size(orders=12, locations=5, skus=6), seed=seed)
    raw["policy"] = {**raw.get("policy", {}), "relative_gap": relative_gap, "time_limit_s": 30.0}
    return raw


@pytest.mark.parametrize("seed", SMALL)
def test_fill_per_priority_is_the_reference_optimum(seed: int) -> None:
    from engine.checker import fill_by_priority
    from tests.reference import reference_optimum

    raw = _small(seed, relative_gap=0.001)
    parsed = parse_solve_request(raw)
    assert fill_by_priority(parsed, solved(raw)) == reference_optimum(parsed).fill_by_priority


@pytest.mark.parametrize("seed", SMALL)
def test_cost_is_within_the_stated_gap_of_the_reference_optimum(seed: int) -> None:
    from tests.reference import reference_optimum

    raw = _small(seed, relative_gap=0.05)
    response = solved(raw)
    best = reference_optimum(parse_solve_request(raw)).cost
    solver = response["solver"]
    assert solver["status"] == "optimal"
    # The bound is a proven lower bound: never above the true optimum (cents rounded).
    assert solver["bound"] <= best + 0.01
    # And optimal within relative_gap: the cost no further above the optimum than the gap says.
    assert best - 0.01 <= solver["objective"] <= best / (1 - raw["policy"]["relative_gap"]) + 0.01


@pytest.mark.parametrize("seed", SMALL)
def test_status_optimal_at_a_gap_of_zero_is_the_reference_optimum(seed: int) -> None:
    from tests.reference import reference_optimum

    raw = _small(seed, relative_gap=0.0)
    response = solved(raw)
    best = reference_optimum(parse_solve_request(raw)).cost
    assert response["solver"]["status"] == "optimal"
    assert response["summary"]["total_cost"] == pytest.approx(best, abs=0.01)


@pytest.mark.parametrize("backend", ["scip", "highs", "sat"])
def test_every_backend_reaches_the_contract_example(backend: str) -> None:
    from engine.checker import assert_valid
    from engine.solve import solve
    from models.validation import parse_solve_request

    raw = json.loads((DATA / "contract_example_request.json").read_text())
    parsed = parse_solve_request(raw)
    response = solve(parsed, backend=backend)
    assert_valid(parsed, response)
    assert response["summary"]["total_cost"] == 20.24
    assert response["solver"]["name"] == f"or-tools/{backend}"


def test_the_same_request_gives_the_same_answer_when_the_solve_ends_on_proof() -> None:
    from engine.generate import Size, generate
    from engine.solve import solve
    from models.validation import parse_solve_request

    raw = generate(Size(orders=40, locations=8, skus=20), seed=3)
    raw["policy"] = {**raw.get("policy", {}), "relative_gap": 0.0, "time_limit_s": 30.0}
    first, second = (solve(parse_solve_request(raw)) for _ in range(2))
    assert first["solver"]["status"] == second["solver"]["status"] == "optimal"
    for response in (first, second):
        response["solver"].pop("seconds")
    assert first == second
