"""Explanations (engine/explain.py): the next-best location of each shipment and the takers of
each unfilled line, checked against the contract's own checker (engine/checker.py): an
alternative is one the checker accepts, at the cost difference the checker computes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from engine.checker import check_allocations, total_cost
from engine.explain import allocation_from_response, explain
from engine.problem import build_problem
from engine.result import SolverInfo, build_response
from models.solve import SolveResponse
from models.validation import parse_solve_request
from tests.builders import (
    NEWARK,
    PROVIDENCE,
    WORCESTER,
    location,
    pickup_order,
    request,
    ship_order,
    solved,
    stock,
)
from tests.strategies import solve_requests

DATA = Path(__file__).parent / "data"


def explained(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    response = solved(raw)
    data = build_problem(parse_solve_request(raw))
    return response, explain(data, allocation_from_response(data, response))


def moved(response: dict[str, Any], order_id: str, source: str, target: str) -> list[dict]:
    """The response's allocations with one shipment's units moved to another location."""
    merged: dict[tuple[str, str, str], int] = {}
    for row in response["allocations"]:
        at = target if (row["order_id"], row["location_id"]) == (order_id, source) else None
        key = (row["order_id"], row["line_id"], at or row["location_id"])
        merged[key] = merged.get(key, 0) + row["quantity"]
    return [
        {"order_id": o, "line_id": line, "location_id": loc, "quantity": q}
        for (o, line, loc), q in merged.items()
    ]


def shipment(explanations: dict[str, Any], order_id: str, location_id: str) -> dict[str, Any]:
    (row,) = [
        r
        for r in explanations["shipments"]
        if r["order_id"] == order_id and r["location_id"] == location_id
    ]
    return row


def test_next_best_location_is_the_cheapest_other_that_could_take_the_shipment():
    raw = request(
        [
            location("WH-NEAR", "warehouse", WORCESTER),
            location("WH-MID", "warehouse", PROVIDENCE),
            location("WH-FAR", "warehouse", NEWARK),
        ],
        [stock("WH-NEAR", "A", 2), stock("WH-MID", "A", 2), stock("WH-FAR", "A", 2)],
        [ship_order("SO-1", ("A", 2))],
    )
    response, explanations = explained(raw)
    row = shipment(explanations, "SO-1", "WH-NEAR")
    assert row["units"] == 2
    assert row["alternative_location_id"] == "WH-MID"
    parsed = parse_solve_request(raw)
    after = {**response, "allocations": moved(response, "SO-1", "WH-NEAR", "WH-MID")}
    assert row["extra_cost"] == pytest.approx(
        total_cost(parsed, after) - total_cost(parsed, response), abs=0.011
    )
    assert row["extra_cost"] > 0


def test_no_alternative_where_the_other_stock_went_to_other_orders():
    # The contract's example: SO-1001 is split because the store's second unit serves the pickup.
    raw = json.loads((DATA / "contract_example_request.json").read_text())
    _, explanations = explained(raw)
    for row in explanations["shipments"]:
        assert row["alternative_location_id"] is None
        assert row["extra_cost"] is None


def test_pickup_shipment_has_no_alternative():
    raw = request(
        [location("S-1"), location("S-2")],
        [stock("S-1", "A", 1), stock("S-2", "A", 5)],
        [pickup_order("SO-1", "S-1", ("A", 1))],
    )
    _, explanations = explained(raw)
    assert shipment(explanations, "SO-1", "S-1")["alternative_location_id"] is None


def test_alternative_needs_every_unit_of_the_shipment():
    raw = request(
        [location("WH-NEAR", "warehouse", WORCESTER), location("WH-FAR", "warehouse", NEWARK)],
        [stock("WH-NEAR", "A", 3), stock("WH-FAR", "A", 2)],
        [ship_order("SO-1", ("A", 3))],
    )
    _, explanations = explained(raw)
    assert shipment(explanations, "SO-1", "WH-NEAR")["alternative_location_id"] is None


def test_alternative_keeps_within_max_units():
    raw = request(
        [
            location("WH-NEAR", "warehouse", WORCESTER),
            location("WH-FAR", "warehouse", NEWARK, max_units=1),
        ],
        [stock("WH-NEAR", "A", 2), stock("WH-FAR", "A", 5)],
        [ship_order("SO-1", ("A", 2))],
    )
    _, explanations = explained(raw)
    assert shipment(explanations, "SO-1", "WH-NEAR")["alternative_location_id"] is None


def test_alternative_keeps_within_max_shipments():
    raw = request(
        [
            location("WH-NEAR", "warehouse", WORCESTER),
            location("WH-FAR", "warehouse", NEWARK, max_shipments=1),
        ],
        [stock("WH-NEAR", "A", 1), stock("WH-FAR", "A", 5)],
        [
            ship_order("SO-1", ("A", 1), priority=1),
            # SO-2's only source is WH-FAR, whose one shipment it then takes.
            ship_order("SO-2", ("B", 1)),
        ],
    )
    raw["inventory"].append(stock("WH-FAR", "B", 1))
    _, explanations = explained(raw)
    assert shipment(explanations, "SO-1", "WH-NEAR")["alternative_location_id"] is None


def test_unfilled_line_names_its_takers_highest_priority_first():
    raw = request(
        [location("WH", "warehouse", WORCESTER)],
        [stock("WH", "A", 3)],
        [
            ship_order("SO-LOW", ("A", 1), priority=0),
            ship_order("SO-HIGH", ("A", 1), priority=5),
            ship_order("SO-MID", ("A", 1), priority=3),
            ship_order("SO-SHORT", ("A", 2), priority=0, allow_partial=False),
        ],
    )
    _, explanations = explained(raw)
    (row,) = explanations["unallocated"]
    assert (row["order_id"], row["line_id"], row["missing"]) == ("SO-SHORT", "1", 2)
    assert [t["order_id"] for t in row["taken_by"]] == ["SO-HIGH", "SO-MID", "SO-LOW"]
    assert [t["priority"] for t in row["taken_by"]] == [5, 3, 0]


def test_takers_are_a_few_orders_at_most():
    raw = request(
        [location("WH", "warehouse", WORCESTER)],
        [stock("WH", "A", 5)],
        [ship_order(f"SO-{i}", ("A", 1), priority=1) for i in range(5)]
        + [ship_order("SO-LAST", ("A", 1))],
    )
    response = solved(raw)
    data = build_problem(parse_solve_request(raw))
    explanations = explain(data, allocation_from_response(data, response), max_takers=2)
    (row,) = explanations["unallocated"]
    assert len(row["taken_by"]) == 2


def test_an_order_is_not_its_own_taker():
    raw = request(
        [location("WH", "warehouse", WORCESTER)],
        [stock("WH", "A", 1)],
        [ship_order("SO-1", ("A", 1), ("A", 1))],
    )
    _, explanations = explained(raw)
    (row,) = explanations["unallocated"]
    assert row["taken_by"] == []


def test_allocation_from_response_refuses_a_location_that_may_not_serve_the_line():
    raw = request(
        [location("WH", "warehouse", WORCESTER), location("S-1", ships=False)],
        [stock("WH", "A", 1), stock("S-1", "A", 1)],
        [ship_order("SO-1", ("A", 1))],
    )
    data = build_problem(parse_solve_request(raw))
    bad = {"allocations": [{"order_id": "SO-1", "line_id": "1", "location_id": "S-1",
                            "quantity": 1}]}  # fmt: skip
    with pytest.raises(ValueError, match=r"allocations\.0: 'S-1'"):
        allocation_from_response(data, bad)


def test_explanations_are_written_only_when_given():
    raw = request(
        [location("WH", "warehouse")], [stock("WH", "A", 1)], [ship_order("SO-1", ("A", 1))]
    )
    data = build_problem(parse_solve_request(raw))
    x = allocation_from_response(data, solved(raw))
    info = SolverInfo("t", True, 0.0, 0.0, 0.0, 0.0, "optimal")
    assert "explanations" not in build_response(data, x, info)
    with_them = build_response(data, x, info, explanations=explain(data, x))
    SolveResponse.model_validate(with_them)  # the extension's documented shape
    assert with_them["explanations"]["shipments"][0]["location_id"] == "WH"


def test_policy_explain_is_off_by_default():
    raw = request(
        [location("WH", "warehouse")], [stock("WH", "A", 1)], [ship_order("SO-1", ("A", 1))]
    )
    assert parse_solve_request(raw).policy.explain is False
    raw["policy"]["explain"] = True
    assert parse_solve_request(raw).policy.explain is True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=solve_requests(max_locations=4, max_orders=4))
def test_every_explanation_holds_against_the_checker(raw):
    """An alternative is a move the checker accepts, at the extra cost it recomputes; a shipment
    without one has no other location the checker would accept; takers took the line's sku."""
    parsed = parse_solve_request(raw)
    response, explanations = explained(raw)
    before = total_cost(parsed, response)
    location_ids = [loc["id"] for loc in raw["locations"]]
    for row in explanations["shipments"]:
        if row["alternative_location_id"] is not None:
            rows = moved(
                response, row["order_id"], row["location_id"], row["alternative_location_id"]
            )
            assert check_allocations(parsed, rows) == []
            after = total_cost(parsed, {**response, "allocations": rows})
            assert row["extra_cost"] == pytest.approx(after - before, abs=0.011)
            # and it is the cheapest such move
            for other in location_ids:
                if other in (row["location_id"], row["alternative_location_id"]):
                    continue
                rows = moved(response, row["order_id"], row["location_id"], other)
                if check_allocations(parsed, rows) == []:
                    cost = total_cost(parsed, {**response, "allocations": rows}) - before
                    assert cost >= row["extra_cost"] - 0.011
        else:
            for other in location_ids:
                if other != row["location_id"]:
                    rows = moved(response, row["order_id"], row["location_id"], other)
                    assert check_allocations(parsed, rows) != []
    skus = {(o["id"], line["id"]): line["sku"] for o in raw["orders"] for line in o["lines"]}
    took = {(a["order_id"], skus[(a["order_id"], a["line_id"])]) for a in response["allocations"]}
    short = {(u["order_id"], u["line_id"]): u["quantity"] for u in response["unallocated"]}
    assert {
        (r["order_id"], r["line_id"]): r["missing"] for r in explanations["unallocated"]
    } == short
    for row in explanations["unallocated"]:
        sku = skus[(row["order_id"], row["line_id"])]
        priorities = [t["priority"] for t in row["taken_by"]]
        assert priorities == sorted(priorities, reverse=True)
        for taker in row["taken_by"]:
            assert taker["order_id"] != row["order_id"]
            assert (taker["order_id"], sku) in took


def test_solve_writes_explanations_only_when_the_policy_asks():
    from engine.checker import assert_valid
    from engine.generate import Size, generate
    from engine.solve import solve

    raw = generate(Size(orders=60, locations=8, skus=30), 3)
    plain = solve(parse_solve_request(raw))
    assert "explanations" not in plain or plain["explanations"] is None
    raw["policy"]["explain"] = True
    request = parse_solve_request(raw)
    explained = solve(request)
    assert_valid(request, explained)
    assert explained["explanations"]["shipments"]
