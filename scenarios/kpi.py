"""One fixed KPI record per variant, computed from a request and its response.

Every variant of every scenario reports the same fields (:class:`KpiRecord`), so tables and plots
compare like with like. Only fill per priority widens the table: one ``fill_rate_p<N>`` column for
each priority of the batch, highest first.

Definitions (read them before quoting a number):

- Demand is the batch's orders *plus the orders a variant cancelled* (pickups at a closed store
  whose customers give up, the request's ``cancelled_orders``): variants are compared on the same
  demand, so closing a store never shows as a better fill. ``orders``, ``units_requested`` and
  every rate below count them; ``orders_cancelled`` and ``units_cancelled`` say how many.
- ``fill_rate``: units allocated / units requested; ``fill_rate_p<N>`` the same for priority N.
- ``order_fill_rate``: orders that got every unit / orders.
- ``units_unfilled``: units requested minus units allocated (cancelled units included).
- ``total_cost``: the response's total (shipments plus unit handling); ``cost_per_unit``: total
  cost per unit allocated.
- ``shipments``: (order, location) pairs used, pickup included; ``split_rate``: orders served by
  more than one location / orders served at all.
- ``mean_distance_km``: mean distance of the ship shipments (pickup travels 0 km and would dilute
  it).
- ``units_warehouse``, ``units_store_ship``, ``units_store_pickup``: where the allocated units
  come from; ``store_unit_share``: the stores' share of all units, both channels.
- ``stores_at_zero_stock``: stores with no unit left of any sku after the batch (of the stores
  that had stock before); ``store_positions_emptied``: store (sku) positions the batch took from
  some stock to none, which walk-in customers will find empty. Both count units on the shelf:
  safety stock withheld from promising (an inventory row's ``safety_stock``) is still there.
- ``solve_seconds``, ``solver_status`` (optimal / feasible), ``gap``: how the solver ended; a
  ``feasible`` variant stopped at its time limit and its KPIs may move with machine speed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from scenarios.changes import CANCELLED_ORDERS_FIELD, CANCELLED_REASON


@dataclass(frozen=True)
class KpiRecord:
    """The KPIs of one solved variant (see the module docstring for each definition)."""

    variant: str
    strategy: str
    solver_status: str
    orders: int
    units_requested: int
    units_allocated: int
    units_unfilled: int
    orders_cancelled: int
    units_cancelled: int
    fill_rate: float
    order_fill_rate: float
    total_cost: float
    cost_per_unit: float
    shipments: int
    split_rate: float
    mean_distance_km: float
    units_warehouse: int
    units_store_ship: int
    units_store_pickup: int
    store_unit_share: float
    stores_at_zero_stock: int
    store_positions_emptied: int
    solve_seconds: float
    gap: float
    fill_rate_by_priority: dict[int, float] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """A flat row: per-priority fill as ``fill_rate_p<N>`` columns, highest priority first."""
        row = asdict(self)
        by_priority = row.pop("fill_rate_by_priority")
        for priority in sorted(by_priority, reverse=True):
            row[f"fill_rate_p{priority}"] = by_priority[priority]
        return row


# KPI columns with their label and unit, in the order tables and plots show them. Solve time and
# gap come last: they describe the run, not the network.
KPI_LABELS: dict[str, tuple[str, str]] = {
    "fill_rate": ("Fill rate", "% of units"),
    "order_fill_rate": ("Orders filled complete", "% of orders"),
    "units_unfilled": ("Units unfilled", "units"),
    "total_cost": ("Total cost", "$"),
    "cost_per_unit": ("Cost per unit", "$ / unit"),
    "shipments": ("Shipments", "count"),
    "split_rate": ("Split orders", "% of orders served"),
    "mean_distance_km": ("Mean ship distance", "km"),
    "store_unit_share": ("Units from stores", "% of units"),
    "stores_at_zero_stock": ("Stores left at zero stock", "stores"),
    "store_positions_emptied": ("Store positions emptied", "store skus"),
    "solve_seconds": ("Solve time", "s"),
}
PERCENT_KPIS = frozenset({"fill_rate", "order_fill_rate", "split_rate", "store_unit_share"})

FIELD_NAMES = tuple(f.name for f in fields(KpiRecord) if f.name != "fill_rate_by_priority")


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def compute_kpis(
    variant: str, request: Mapping[str, Any], response: Mapping[str, Any]
) -> KpiRecord:
    """The KPI record of ``response``, the engine's answer to ``request`` (both contract dicts)."""
    summary = response["summary"]
    solver = response["solver"]
    locations = pd.DataFrame(request["locations"], columns=["id", "kind"]).set_index("id")
    is_store = locations["kind"].eq("store")
    orders = pd.DataFrame(request["orders"], columns=["id", "delivery"]).set_index("id")

    allocations = pd.DataFrame(
        response["allocations"], columns=["order_id", "line_id", "location_id", "quantity"]
    )
    from_store = is_store.reindex(allocations["location_id"]).to_numpy(dtype=bool)
    pickup = orders["delivery"].reindex(allocations["order_id"]).eq("pickup").to_numpy()
    units = allocations["quantity"].to_numpy(dtype=np.int64)
    units_warehouse = int(units[~from_store].sum())
    units_store_pickup = int(units[from_store & pickup].sum())
    units_store_ship = int(units[from_store & ~pickup].sum())

    shipments = pd.DataFrame(
        response["shipments"], columns=["order_id", "location_id", "distance_km", "cost"]
    )
    ship_shipments = shipments[
        orders["delivery"].reindex(shipments["order_id"]).eq("ship").to_numpy()
    ]
    per_order = shipments.groupby("order_id").size()

    inventory = pd.DataFrame(request["inventory"], columns=["location_id", "sku", "quantity"])
    remaining = pd.DataFrame(response["remaining"], columns=["location_id", "sku", "quantity"])
    # `remaining` answers row by row in the request's inventory order (the contract). Units held
    # back as safety stock are still on the shelf: count them in what the batch leaves.
    withheld = np.array(
        [row.get("safety_stock", 0) for row in request["inventory"]], dtype=np.int64
    )
    before = inventory["quantity"].to_numpy(dtype=np.int64) + withheld
    after = remaining["quantity"].to_numpy(dtype=np.int64) + withheld
    store_row = is_store.reindex(inventory["location_id"]).to_numpy(dtype=bool)
    store_stock = pd.DataFrame(
        {"location_id": inventory["location_id"][store_row], "before": before[store_row],
         "after": after[store_row]}
    ).groupby("location_id")[["before", "after"]].sum()  # fmt: skip

    cancelled = request.get(CANCELLED_ORDERS_FIELD) or []
    units_cancelled = sum(line["quantity"] for order in cancelled for line in order["lines"])
    n_orders = int(summary["orders"]) + len(cancelled)
    requested = int(summary["units_requested"]) + units_cancelled
    allocated = int(summary["units_allocated"])
    total_cost = float(summary["total_cost"])
    return KpiRecord(
        variant=variant,
        strategy=str(solver.get("strategy", "optimal")),
        solver_status=str(solver["status"]),
        orders=n_orders,
        units_requested=requested,
        units_allocated=allocated,
        units_unfilled=requested - allocated,
        orders_cancelled=len(cancelled),
        units_cancelled=units_cancelled,
        fill_rate=_ratio(allocated, requested),
        order_fill_rate=_ratio(summary["orders_fully_allocated"], n_orders),
        total_cost=total_cost,
        cost_per_unit=round(_ratio(total_cost, allocated), 4),
        shipments=int(summary["shipments"]),
        split_rate=_ratio(summary["split_orders"], per_order.size),
        mean_distance_km=round(float(ship_shipments["distance_km"].mean()), 2)
        if len(ship_shipments)
        else 0.0,
        units_warehouse=units_warehouse,
        units_store_ship=units_store_ship,
        units_store_pickup=units_store_pickup,
        store_unit_share=_ratio(units_store_ship + units_store_pickup, allocated),
        stores_at_zero_stock=int(((store_stock["before"] > 0) & (store_stock["after"] == 0)).sum()),
        store_positions_emptied=int(((before > 0) & (after == 0) & store_row).sum()),
        solve_seconds=float(solver["seconds"]),
        gap=float(solver["gap"]),
        fill_rate_by_priority=_fill_by_priority(request, allocations),
    )


def _fill_by_priority(request: Mapping[str, Any], allocations: pd.DataFrame) -> dict[int, float]:
    # From the request and the allocations, not the summary's `by_priority`: that is an extension
    # of the contract, and a KPI should mean the same whichever engine answered.
    demand = [*request["orders"], *(request.get(CANCELLED_ORDERS_FIELD) or [])]
    priority = {order["id"]: order.get("priority", 0) for order in demand}
    requested: dict[int, int] = {}
    for order in demand:
        p = priority[order["id"]]
        requested[p] = requested.get(p, 0) + sum(line["quantity"] for line in order["lines"])
    allocated = allocations.groupby(allocations["order_id"].map(priority))["quantity"].sum()
    return {
        p: _ratio(int(allocated.get(p, 0)), requested[p]) for p in sorted(requested, reverse=True)
    }


def unfilled_by_reason(request: Mapping[str, Any], response: Mapping[str, Any]) -> pd.Series:
    """Units unfilled per reason: the response's ``unallocated`` rows by their reason, and the
    units of the orders the variant cancelled as ``cancelled`` (they are demand too)."""
    rows = [(row["reason"], row["quantity"]) for row in response["unallocated"]]
    rows += [
        (CANCELLED_REASON, line["quantity"])
        for order in request.get(CANCELLED_ORDERS_FIELD) or []
        for line in order["lines"]
    ]
    if not rows:
        return pd.Series(dtype="int64", name="units")
    reasons, units = zip(*rows, strict=True)
    return pd.Series(units, index=reasons, dtype="int64", name="units").groupby(level=0).sum()


def kpi_table(records: Sequence[KpiRecord]) -> pd.DataFrame:
    """The records as a table, one row per variant (index ``variant``), in the fixed column order;
    a priority missing from a variant (filtered demand) shows as NaN."""
    rows = [record.as_row() for record in records]
    priorities = sorted(
        {p for record in records for p in record.fill_rate_by_priority}, reverse=True
    )
    columns = list(FIELD_NAMES)
    at = columns.index("fill_rate") + 1
    columns[at:at] = [f"fill_rate_p{p}" for p in priorities]
    return pd.DataFrame(rows, columns=columns).set_index("variant")


# Tolerance on a rate (a unit in a hundred million) and on money (half a cent).
_RATE_TOLERANCE = 1e-9
_COST_TOLERANCE = 0.005


def same_demand(table: pd.DataFrame, baseline: str) -> pd.Series:
    """Per variant: does it answer the baseline's demand (the same orders and units, cancelled
    ones included)? Totals (cost, units unfilled) compare only between such variants."""
    base = table.loc[baseline]
    return (table["orders"] == base["orders"]) & (
        table["units_requested"] == base["units_requested"]
    )


def verdicts(table: pd.DataFrame, baseline: str) -> pd.Series:
    """Each variant against the baseline in the contract's order: ``better``, ``worse`` or
    ``same``. Fill per priority decides first, highest priority down (as rates, so that a variant
    with other demand compares too); then cost: the total on the same demand, the cost per unit
    allocated on other demand (twice the orders cost more in total, not per unit)."""
    priorities = [c for c in table.columns if c.startswith("fill_rate_p")]
    equal_demand = same_demand(table, baseline)
    base = table.loc[baseline]
    result = {}
    for variant, row in table.iterrows():
        verdict = "same"
        for column in priorities:
            if pd.isna(row[column]) or pd.isna(base[column]):
                continue
            if abs(row[column] - base[column]) > _RATE_TOLERANCE:
                verdict = "better" if row[column] > base[column] else "worse"
                break
        if verdict == "same":
            cost = "total_cost" if equal_demand[variant] else "cost_per_unit"
            if abs(row[cost] - base[cost]) > _COST_TOLERANCE:
                verdict = "better" if row[cost] < base[cost] else "worse"
        result[variant] = verdict
    return pd.Series(result, name="verdict")


def deltas(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each numeric KPI minus the baseline's: percentage points for rates, units otherwise."""
    numeric = table.select_dtypes("number")
    return numeric - numeric.loc[baseline]


# Columns a terminal has room for, with their display format.
TERMINAL_COLUMNS: dict[str, str] = {
    "fill_rate": "{:.2%}",
    "units_unfilled": "{:,.0f}",
    "units_cancelled": "{:,.0f}",
    "total_cost": "{:,.2f}",
    "cost_per_unit": "{:.3f}",
    "shipments": "{:,.0f}",
    "split_rate": "{:.1%}",
    "mean_distance_km": "{:,.0f}",
    "store_unit_share": "{:.1%}",
    "stores_at_zero_stock": "{:,.0f}",
    "store_positions_emptied": "{:,.0f}",
    "solve_seconds": "{:.1f}",
    "solver_status": "{}",
}


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The terminal columns of a KPI table as display strings, KPIs down the side and variants
    across (reads well for a few variants with many KPIs)."""
    priority_columns = [c for c in table.columns if c.startswith("fill_rate_p")]
    items = list(TERMINAL_COLUMNS.items())
    at = list(TERMINAL_COLUMNS).index("fill_rate") + 1
    items[at:at] = [(c, "{:.2%}") for c in priority_columns]
    shown = pd.DataFrame(
        {
            column: [
                "-" if pd.isna(value) else fmt.format(value) for value in table[column].tolist()
            ]
            for column, fmt in items
        },
        index=table.index,
    )
    return shown.T


def format_table(table: pd.DataFrame) -> str:
    """The KPI table as text for a terminal (see :func:`formatted`)."""
    return formatted(table).to_string()


def markdown_table(table: pd.DataFrame) -> str:
    """The KPI table as a Markdown table (see :func:`formatted`)."""
    shown = formatted(table)
    lines = [
        "| KPI | " + " | ".join(str(c) for c in shown.columns) + " |",
        "|---|" + "---:|" * len(shown.columns),
    ]
    for kpi, values in shown.iterrows():
        lines.append(f"| {kpi} | " + " | ".join(values.tolist()) + " |")
    return "\n".join(lines)
