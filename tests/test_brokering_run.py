"""Brokering runs (ledger/brokering_run.py, services/brokering.py): one solve request for the whole
queue with the exclusions in it, every stocked row offered, runs that never stop the ledger and
never promise a unit twice, orders that may not split held to one location over all runs."""

from __future__ import annotations

import threading
from typing import Any

from engine.solve import solve
from ledger.brokering_run import (
    CommitState,
    OfferedRow,
    QueuedOrder,
    broker,
    cut_back,
)
from models.solve import SolveRequest
from services.brokering import run_brokering
from storage.events import apply_event_batch
from storage.orders import get_order, submit_orders
from storage.positions import get_position
from storage.snapshots import current_version_of
from tests.ledger_fixtures import batch, event, feed, ledger, ship_order

__all__ = ["ledger"]

T0 = "2026-11-27T05:00:00Z"

LOCATIONS = [
    {"id": "WH", "kind": "warehouse", "lat": 40.73, "lon": -74.17},
    {"id": "S1", "kind": "store", "lat": 40.75, "lon": -73.99, "max_units": 1},
]


def ship(order_id: str, quantity: int = 1, priority: int = 0) -> dict:
    return {"id": order_id, "priority": priority, "delivery": "ship", "ship_to": {"lat": 40.7, "lon": -74.0},
            "lines": [{"id": "1", "sku": "TEE", "quantity": quantity}]}  # fmt: skip


class CountingSolve:
    """The engine's solve, counting the requests a run makes."""

    def __init__(self) -> None:
        self.requests: list[SolveRequest] = []

    def __call__(self, request: SolveRequest) -> dict[str, Any]:
        self.requests.append(request)
        return solve(request)


# --- exclusions in the solve call -------------------------------------------------------------


def test_exclusions_go_in_the_one_solve_request_of_the_run():
    inventory = [OfferedRow("WH", "TEE", 1), OfferedRow("S1", "TEE", 1)]
    queue = [
        QueuedOrder(ship("A")),
        QueuedOrder(ship("B", priority=1), frozenset({"WH"})),
        QueuedOrder(ship("C")),
    ]
    counting = CountingSolve()
    result = broker(LOCATIONS, inventory, queue, None, counting)
    assert len(counting.requests) == 1
    excluded = {o.id: o.exclude_location_ids for o in counting.requests[0].orders}
    assert excluded == {"A": [], "B": ["WH"], "C": []}
    served = {(a["order_id"], a["location_id"]): a["quantity"] for a in result["allocations"]}
    assert served[("B", "S1")] == 1
    assert ("B", "WH") not in served
    assert sum(served.values()) == 2  # two units in stock, three orders
    assert result["summary"]["orders"] == 3
    assert result["solver"]["requests"] == 1


def test_pickup_order_rejected_by_its_store_has_no_eligible_location():
    pickup = {
        "id": "P",
        "delivery": "pickup",
        "pickup_location_id": "S1",
        "lines": [{"id": "1", "sku": "TEE", "quantity": 1}],
    }
    inventory = [OfferedRow("S1", "TEE", 1)]
    result = broker(LOCATIONS, inventory, [QueuedOrder(pickup, frozenset({"S1"}))], None, solve)
    assert result["allocations"] == []
    assert result["unallocated"] == [
        {"order_id": "P", "line_id": "1", "quantity": 1, "reason": "no_eligible_location"}
    ]


def test_rejected_line_is_rebrokered_in_the_same_request_as_the_rest_of_the_queue(ledger):
    feed(ledger, [("WH-EAST", "TEE", 5), ("S-017", "TEE", 5)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 2))
    first = run_brokering(ledger)
    rejecting = first.result["allocations"][0]["location_id"]
    apply_event_batch(ledger, batch(event("rj", "rejected", rejecting, "2026-11-27T12:00:00Z",
                                          sku="TEE", quantity=2, order_id="SO-1", line_id="1")))  # fmt: skip
    submit_orders(ledger, ship_order("SO-2", "TEE", 1))
    counting = CountingSolve()
    second = run_brokering(ledger, solve=counting)
    assert len(counting.requests) == 1
    assert {o.id for o in counting.requests[0].orders} == {"SO-1", "SO-2"}
    assert {a["location_id"] for a in second.result["allocations"] if a["order_id"] == "SO-1"} == (
        {"WH-EAST", "S-017"} - {rejecting}
    )


# --- no pruning -------------------------------------------------------------------------------


def test_every_stocked_row_of_the_asked_skus_is_offered(ledger):
    stores = [
        ("S-017", "TEE", 1),
        ("S-042", "TEE", 2),
        ("WH-EAST", "TEE", 4),
        ("WH-EAST", "CAP", 9),
    ]
    feed(ledger, stores, T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 7))
    counting = CountingSolve()
    run = run_brokering(ledger, solve=counting)
    offered = {(r.location_id, r.sku, r.quantity) for r in counting.requests[0].inventory}
    assert offered == {("S-017", "TEE", 1), ("S-042", "TEE", 2), ("WH-EAST", "TEE", 4)}
    assert run.result["summary"]["units_allocated"] == 7  # all three locations serve it


# --- the commit's cut -------------------------------------------------------------------------


def state(atp: dict, open_units: dict, **kw: Any) -> CommitState:
    return CommitState(
        atp=atp, open_units=open_units, allowed=kw.get("allowed", {}),
        all_or_nothing=frozenset(kw.get("all_or_nothing", ())), rank=kw.get("rank", {}),
    )  # fmt: skip


def test_commit_cuts_back_what_the_atp_at_commit_no_longer_covers_most_urgent_first():
    allocations = [
        {"order_id": "LOW", "line_id": "1", "location_id": "WH", "quantity": 2},
        {"order_id": "HIGH", "line_id": "1", "location_id": "WH", "quantity": 2},
    ]
    line_sku = {("LOW", "1"): "TEE", ("HIGH", "1"): "TEE"}
    kept, cut = cut_back(
        allocations,
        line_sku,
        state({("WH", "TEE"): 3}, {("LOW", "1"): 2, ("HIGH", "1"): 2}, rank={"HIGH": 0, "LOW": 1}),
    )
    assert [(a["order_id"], a["quantity"]) for a in kept] == [("HIGH", 2), ("LOW", 1)]
    assert [(c["order_id"], c["quantity"]) for c in cut] == [("LOW", 1)]


def test_commit_drops_an_all_or_nothing_order_that_would_be_cut():
    allocations = [
        {"order_id": "AON", "line_id": "1", "location_id": "WH", "quantity": 1},
        {"order_id": "AON", "line_id": "2", "location_id": "WH", "quantity": 1},
        {"order_id": "B", "line_id": "1", "location_id": "WH", "quantity": 1},
    ]
    line_sku = {("AON", "1"): "TEE", ("AON", "2"): "CAP", ("B", "1"): "TEE"}
    kept, cut = cut_back(
        allocations,
        line_sku,
        state({("WH", "TEE"): 1, ("WH", "CAP"): 0}, {("AON", "1"): 1, ("AON", "2"): 1, ("B", "1"): 1},
              all_or_nothing={"AON"}, rank={"AON": 0, "B": 1}),
    )  # fmt: skip
    # AON cannot have its CAP: it gets nothing, and its TEE goes to B.
    assert [(a["order_id"], a["line_id"]) for a in kept] == [("B", "1")]
    assert sorted((c["order_id"], c["line_id"]) for c in cut) == [("AON", "1"), ("AON", "2")]


def test_sales_during_a_run_apply_before_it_commits_and_the_run_leaves_the_cut_units_queued(
    ledger,
):
    feed(ledger, [("WH-EAST", "TEE", 5)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 5))
    seen: dict[str, Any] = {}

    def solve_while_the_shop_sells(request: SolveRequest) -> dict[str, Any]:
        response = solve(request)
        # The ledger is not stopped: a POS batch applies while the run is still solving.
        seen["applied"] = apply_event_batch(
            ledger, batch(event("pos-1", "sale", "WH-EAST", "2026-11-27T09:00:00Z", sku="TEE",
                                quantity=3))
        )  # fmt: skip
        seen["version_during_run"] = current_version_of(ledger)
        return response

    run = run_brokering(ledger, solve=solve_while_the_shop_sells)
    assert seen["applied"].applied == 1
    assert seen["applied"].version < run.version  # applied before the run committed
    assert run.snapshot_version < seen["applied"].version
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved) == (2, 2)  # never more than the atp at commit
    assert run.result["cut_back"] == [
        {"order_id": "SO-1", "line_id": "1", "location_id": "WH-EAST", "quantity": 3}
    ]
    order = get_order(ledger, "SO-1")
    assert (order.status, order.lines[0].allocated) == ("queued", 2)  # 3 units stay queued


def test_a_feed_during_a_run_applies_and_the_run_reserves_no_more_than_the_atp_at_commit(ledger):
    feed(ledger, [("WH-EAST", "TEE", 6)], T0)
    submit_orders(ledger, {"orders": [ship_order("SO-1", "TEE", 4, priority=1),
                                      ship_order("SO-2", "TEE", 2)]})  # fmt: skip

    def solve_while_the_erp_counts(request: SolveRequest) -> dict[str, Any]:
        response = solve(request)
        feed(ledger, [("WH-EAST", "TEE", 5)], "2026-11-27T06:00:00Z")  # one unit less
        return response

    run = run_brokering(ledger, solve=solve_while_the_erp_counts)
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved) == (5, 5)
    # The most urgent order keeps its four; the other is cut to what is left.
    assert {(a["order_id"], a["quantity"]) for a in run.result["allocations"]} == {
        ("SO-1", 4), ("SO-2", 1),
    }  # fmt: skip
    assert get_order(ledger, "SO-2").status == "queued"


def test_two_concurrent_runs_never_promise_the_same_unit(ledger):
    feed(ledger, [("WH-EAST", "TEE", 4)], T0)
    submit_orders(ledger, {"orders": [ship_order(f"SO-{n}", "TEE", 1) for n in range(6)]})
    both_solved = threading.Barrier(2, timeout=60)

    def solve_together(request: SolveRequest) -> dict[str, Any]:
        response = solve(request)
        both_solved.wait()  # both runs solved on the same snapshot before either commits
        return response

    runs: list[Any] = []
    threads = [
        threading.Thread(target=lambda: runs.append(run_brokering(ledger, solve=solve_together)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(runs) == 2
    assert runs[0].snapshot_version == runs[1].snapshot_version
    assert sorted(r.result["summary"]["units_allocated"] for r in runs) == [0, 4]
    position = get_position(ledger, "WH-EAST", "TEE")
    assert position.reserved == 4 == position.on_hand


# --- no split over runs -----------------------------------------------------------------------


def no_split(order_id: str, lines: list[tuple[str, str, int]]) -> dict[str, Any]:
    return {"id": order_id, "delivery": "ship", "ship_to": {"lat": 42.36, "lon": -71.06},
            "allow_split": False,
            "lines": [{"id": i, "sku": sku, "quantity": q} for i, sku, q in lines]}  # fmt: skip


def test_order_that_may_not_split_is_served_by_one_location_over_all_runs(ledger):
    # The README's case: the warehouse holds 3 of 5; a store gets stock later.
    feed(ledger, [("WH-EAST", "TEE", 3)], T0)
    submit_orders(ledger, no_split("SO-1003", [("1", "TEE", 5)]))
    first = run_brokering(ledger)
    assert [(a["location_id"], a["quantity"]) for a in first.result["allocations"]] == [
        ("WH-EAST", 3)
    ]
    feed(ledger, [("S-042", "TEE", 10)], "2026-11-27T06:00:00Z")
    second = run_brokering(ledger)
    assert second.result["allocations"] == []  # S-042 is not WH-EAST
    feed(ledger, [("WH-EAST", "TEE", 5)], "2026-11-27T07:00:00Z")
    third = run_brokering(ledger)
    assert [(a["location_id"], a["quantity"]) for a in third.result["allocations"]] == [
        ("WH-EAST", 2)
    ]
    assert get_order(ledger, "SO-1003").status == "brokered"


def test_rejection_releases_the_no_split_orders_other_units_there_and_rebrokers_it_whole(ledger):
    feed(ledger, [("WH-EAST", "TEE", 3), ("WH-EAST", "CAP", 3)], T0)
    submit_orders(ledger, no_split("SO-1", [("1", "TEE", 2), ("2", "CAP", 2)]))
    run_brokering(ledger)
    assert get_position(ledger, "WH-EAST", "CAP").reserved == 2
    apply_event_batch(ledger, batch(event("rj", "rejected", "WH-EAST", "2026-11-27T12:00:00Z",
                                          sku="TEE", quantity=2, order_id="SO-1", line_id="1")))  # fmt: skip
    assert get_position(ledger, "WH-EAST", "TEE").reserved == 0
    assert get_position(ledger, "WH-EAST", "CAP").reserved == 0  # released with it
    order = get_order(ledger, "SO-1")
    assert order.status == "queued"
    assert [line.allocated for line in order.lines] == [0, 0]
    assert order.excluded_location_ids == ["WH-EAST"]
    feed(ledger, [("S-017", "TEE", 2), ("S-017", "CAP", 2)], "2026-11-27T13:00:00Z")
    again = run_brokering(ledger)
    assert {(a["location_id"], a["line_id"]) for a in again.result["allocations"]} == {
        ("S-017", "1"),
        ("S-017", "2"),
    }


def test_stock_where_no_order_may_be_served_is_not_offered(ledger):
    from models.inventory import parse_catalog
    from storage.catalog import apply_catalog

    apply_catalog(ledger, parse_catalog({"locations": [
        {"id": "S-042", "kind": "store", "lat": 40.71, "lon": -74.01, "ships": False},
    ]}))  # fmt: skip
    feed(ledger, [("S-042", "TEE", 3), ("WH-EAST", "TEE", 1)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 1))
    counting = CountingSolve()
    run_brokering(ledger, solve=counting)
    assert {r.location_id for r in counting.requests[0].inventory} == {"WH-EAST"}
    # A pickup order at the store makes its stock eligible.
    submit_orders(ledger, {"id": "P-1", "delivery": "pickup", "pickup_location_id": "S-042",
                           "lines": [{"id": "1", "sku": "TEE", "quantity": 1}]})  # fmt: skip
    run_brokering(ledger, solve=counting)
    assert {r.location_id for r in counting.requests[1].inventory} == {"S-042"}
