"""The KPI record: every field, computed from a request and its response as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.kpi import FIELD_NAMES, compute_kpis, deltas, format_table, kpi_table, markdown_table
from tests.builders import location, pickup_order, request, ship_order, solved, stock

DATA = Path(__file__).parent / "data"
NEWARK = (40.73, -74.17)


def contract_example() -> tuple[dict, dict]:
    return (
        json.loads((DATA / "contract_example_request.json").read_text()),
        json.loads((DATA / "contract_example_response.json").read_text()),
    )


def test_kpis_of_the_contract_example() -> None:
    req, resp = contract_example()
    kpis = compute_kpis("example", req, resp)
    assert kpis.variant == "example"
    assert (kpis.orders, kpis.units_requested, kpis.units_allocated, kpis.units_unfilled) == (
        2,
        3,
        3,
        0,
    )
    assert kpis.fill_rate == 1.0 and kpis.order_fill_rate == 1.0
    assert kpis.fill_rate_by_priority == {1: 1.0, 0: 1.0}
    assert kpis.total_cost == pytest.approx(20.24)
    assert kpis.cost_per_unit == pytest.approx(20.24 / 3, abs=1e-4)
    assert kpis.shipments == 3
    assert kpis.split_rate == 0.5  # SO-1001 split over two locations, SO-1002 not
    # Pickup travels 0 km and is left out of the mean.
    assert kpis.mean_distance_km == pytest.approx((315.94 + 302.44) / 2, abs=0.01)
    assert (kpis.units_warehouse, kpis.units_store_ship, kpis.units_store_pickup) == (1, 1, 1)
    assert kpis.store_unit_share == pytest.approx(2 / 3)
    # S-017 held 2 units of its only sku and gave both.
    assert kpis.stores_at_zero_stock == 1 and kpis.store_positions_emptied == 1
    assert kpis.solver_status == resp["solver"]["status"]


def test_kpis_count_unfilled_units_per_priority() -> None:
    req = request(
        [location("WH-01", "warehouse", NEWARK), location("S-0001", "store")],
        [stock("WH-01", "SKU-A", 2), stock("S-0001", "SKU-A", 1), stock("S-0001", "SKU-B", 4)],
        [
            ship_order("SO-1", ("SKU-A", 2), priority=2),
            ship_order("SO-2", ("SKU-A", 3)),
            pickup_order("SO-3", "S-0001", ("SKU-B", 1)),
        ],
    )
    resp = solved(req)
    kpis = compute_kpis("short", req, resp)
    assert kpis.units_requested == 6
    assert kpis.units_allocated == 4  # 3 units of SKU-A in all, 1 of SKU-B
    assert kpis.units_unfilled == 2
    assert kpis.fill_rate_by_priority == {2: 1.0, 0: 0.5}
    assert kpis.order_fill_rate == pytest.approx(2 / 3)
    assert kpis.units_store_pickup == 1
    # S-0001 keeps SKU-B (3 left): not a store at zero stock, but its SKU-A position is emptied.
    assert kpis.stores_at_zero_stock == 0
    assert kpis.store_positions_emptied == 1


def test_the_table_has_the_fixed_columns_and_one_column_per_priority() -> None:
    req, resp = contract_example()
    records = [compute_kpis("baseline", req, resp), compute_kpis("copy", req, resp)]
    table = kpi_table(records)
    assert list(table.index) == ["baseline", "copy"]
    expected = [name for name in FIELD_NAMES if name != "variant"]
    at = expected.index("fill_rate") + 1
    expected[at:at] = ["fill_rate_p1", "fill_rate_p0"]
    assert list(table.columns) == expected
    assert (deltas(table, "baseline").loc["copy"] == 0).all()


def test_tables_print_with_kpis_down_the_side() -> None:
    req, resp = contract_example()
    table = kpi_table([compute_kpis("baseline", req, resp)])
    text = format_table(table)
    assert "fill_rate_p1" in text and "100.00%" in text and "20.24" in text
    markdown = markdown_table(table)
    assert markdown.splitlines()[0] == "| KPI | baseline |"
    assert "| total_cost | 20.24 |" in markdown


def test_a_shelf_protected_by_safety_stock_is_not_counted_empty() -> None:
    from scenarios.changes import apply_changes
    from scenarios.schema import ChangeSet

    base = request(
        [location("WH-01", "warehouse", NEWARK), location("S-0001", "store")],
        [stock("S-0001", "SKU-A", 3)],
        [ship_order("SO-1", ("SKU-A", 5))],
    )
    protected = apply_changes(
        base, ChangeSet.model_validate({"safety_stock": [{"kind": "store", "units": 1}]})
    )
    unprotected = compute_kpis("baseline", base, solved(base))
    kpis = compute_kpis("keep 1", protected, solved(protected))
    assert unprotected.units_allocated == 3 and unprotected.store_positions_emptied == 1
    assert kpis.units_allocated == 2
    assert kpis.store_positions_emptied == 0 and kpis.stores_at_zero_stock == 0
