"""The notebook API: DataFrames in, the same request as JSON; DataFrames out, joined for analysis."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.generate import Size, generate
from models.problems import InvalidInput
from scenarios import notebook_api as nb

NEWARK = (40.73, -74.17)


def small_tables() -> dict[str, pd.DataFrame]:
    locations = pd.DataFrame(
        {
            "id": ["WH-01", "S-0001"],
            "kind": ["warehouse", "store"],
            "lat": [NEWARK[0], 40.75],
            "lon": [NEWARK[1], -73.99],
            # pandas turns an int column with an empty cell into floats: still whole numbers
            "max_shipments": [np.nan, 5.0],
        }
    )
    inventory = pd.DataFrame(
        {"location_id": ["WH-01", "S-0001"], "sku": ["SKU-A", "SKU-A"], "quantity": [1, 2]}
    )
    orders = pd.DataFrame(
        {
            "id": ["SO-1", "SO-2"],
            "priority": [1, 0],
            "delivery": ["ship", "pickup"],
            "ship_lat": [42.36, np.nan],
            "ship_lon": [-71.06, np.nan],
            "pickup_location_id": [None, "S-0001"],
        }
    )
    lines = pd.DataFrame(
        {
            "order_id": ["SO-1", "SO-2", "SO-2"],
            "sku": ["SKU-A", "SKU-A", "SKU-B"],
            "quantity": [2, 1, 1],
        }
    )
    return {"locations": locations, "inventory": inventory, "orders": orders, "lines": lines}


def test_tables_become_the_contract_request() -> None:
    request = nb.request_from_tables(**small_tables())
    assert request["locations"][0] == {
        "id": "WH-01",
        "kind": "warehouse",
        "lat": NEWARK[0],
        "lon": NEWARK[1],
    }  # empty cells left out: the contract's defaults apply
    assert request["locations"][1]["max_shipments"] == 5
    assert isinstance(request["locations"][1]["max_shipments"], int)
    ship, pickup = request["orders"]
    assert ship["ship_to"] == {"lat": 42.36, "lon": -71.06} and "pickup_location_id" not in ship
    assert pickup["pickup_location_id"] == "S-0001" and "ship_to" not in pickup
    # Line ids numbered per order when the table has none.
    assert [line["id"] for line in pickup["lines"]] == ["1", "2"]
    assert type(request["inventory"][0]["quantity"]) is int


def test_a_generated_request_survives_the_round_trip_through_tables() -> None:
    request = generate(Size(orders=40, locations=8, skus=50), 3)
    tables = nb.tables_from_request(request)
    again = nb.request_from_tables(**tables)
    assert json.dumps(again, sort_keys=True) == json.dumps(request, sort_keys=True)


def test_bad_tables_are_refused_with_every_problem() -> None:
    tables = small_tables()
    tables["lines"].loc[0, "quantity"] = 0
    tables["orders"].loc[1, "pickup_location_id"] = "S-0404"
    with pytest.raises(InvalidInput) as caught:
        nb.build_request(**tables)
    where = {".".join(map(str, p.loc)) for p in caught.value.problems}
    assert where == {"orders.0.lines.0.quantity", "orders.1.pickup_location_id"}


def test_solved_tables_are_joined_for_analysis() -> None:
    result = nb.solve_tables(**small_tables())
    allocations = result.allocations
    assert set(allocations.columns) >= {"order_id", "line_id", "location_id", "quantity", "sku",
                                        "priority", "delivery", "location_kind"}  # fmt: skip
    assert allocations["quantity"].sum() == result.summary["units_allocated"] == 3
    # SKU-B is nowhere: its line is unfilled, with the reason, sku and priority alongside.
    [row] = result.unallocated.to_dict("records")
    assert (row["order_id"], row["sku"], row["reason"], row["priority"]) == (
        "SO-2",
        "SKU-B",
        "out_of_stock",
        0,
    )
    remaining = result.remaining.set_index(["location_id", "sku"])
    assert remaining.loc[("S-0001", "SKU-A"), "allocated"] == 2
    assert remaining.loc[("S-0001", "SKU-A"), "remaining"] == 0
    assert {"distance_km", "cost", "location_lat", "ship_lat"} <= set(result.shipments.columns)
    assert result.kpis.loc["batch", "units_unfilled"] == 1
    assert result.solver["status"] == "optimal"
