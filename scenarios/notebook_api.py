"""The engine from a notebook: pandas DataFrames in, pandas DataFrames out.

Build a solve request from four tables (locations, inventory, orders, lines), solve it, and get
the answer back as tables an analyst can filter, join and plot::

    from scenarios import notebook_api as nb

    tables = nb.generate_tables(orders=150, locations=20, skus=200, seed=1)
    result = nb.solve_tables(**tables)
    result.unallocated.groupby("reason")["quantity"].sum()

Why this location? ``nb.explain(result).shipments`` gives each shipment's next-best location and
what it would have cost more; ``.unfilled`` the orders that took an unfilled line's units.

Or run a scenario file and get its KPI table: ``nb.run_scenario("scenarios/peak_day.yaml")``.

The tables use the contract's field names; a ship order's address is two columns, ``ship_lat``
and ``ship_lon``. Optional fields may be missing columns or empty cells (NaN, None): the contract's
default then applies. Bad input raises :class:`models.problems.InvalidInput` listing every problem
with its path, as the API would answer 422.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.generate import Size, generate
from engine.optimizer import DEFAULT_BACKEND
from engine.solve import solve
from models.solve import SolveRequest
from models.validation import parse_solve_request
from scenarios.kpi import KpiRecord, compute_kpis, kpi_table
from scenarios.runner import ScenarioResult
from scenarios.runner import run as run_scenario_source
from scenarios.schema import ScenarioSource, parse_scenario

LOCATION_COLUMNS = (
    "id", "kind", "lat", "lon", "ships", "pickup", "max_shipments", "max_units",
    "shipment_cost", "unit_cost",
)  # fmt: skip
INVENTORY_COLUMNS = ("location_id", "sku", "quantity")
ORDER_COLUMNS = (
    "id", "priority", "placed_at", "delivery", "ship_lat", "ship_lon", "pickup_location_id",
    "allow_split", "allow_partial", "max_distance_km",
)  # fmt: skip
LINE_COLUMNS = ("order_id", "id", "sku", "quantity")
_INT_FIELDS = frozenset({"max_shipments", "max_units", "quantity", "priority"})


# --- tables to a request ---------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _native(name: str, value: Any) -> Any:
    """A cell as the JSON value the contract expects: numpy scalars unboxed, and whole floats
    of integer fields made ints (pandas turns an int column with one empty cell into floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if name in _INT_FIELDS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    present = [c for c in columns if c in frame.columns]
    rows = []
    for values in frame[present].itertuples(index=False, name=None):
        rows.append(
            {
                name: _native(name, v)
                for name, v in zip(present, values, strict=True)
                if not _is_missing(v)
            }
        )
    return rows


def request_from_tables(
    locations: pd.DataFrame,
    inventory: pd.DataFrame,
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract's request JSON (a dict) from the four tables; not yet validated.

    ``lines`` has one row per order line: ``order_id``, ``id`` (the line id within its order;
    numbered 1, 2, ... per order when the column is absent), ``sku``, ``quantity``. Lines are
    attached to orders in table order.
    """
    lines = lines.copy()
    if "id" not in lines.columns:
        lines["id"] = (lines.groupby("order_id").cumcount() + 1).astype(str)
    lines_by_order: dict[Any, list[dict[str, Any]]] = {}
    for line in _records(lines, LINE_COLUMNS):
        order_id = line.pop("order_id")
        lines_by_order.setdefault(order_id, []).append(line)
    order_rows = []
    for order in _records(orders, ORDER_COLUMNS):
        lat, lon = order.pop("ship_lat", None), order.pop("ship_lon", None)
        if lat is not None or lon is not None:
            order["ship_to"] = {"lat": lat, "lon": lon}
        order["lines"] = lines_by_order.get(order["id"], [])
        order_rows.append(order)
    request: dict[str, Any] = {
        "locations": _records(locations, LOCATION_COLUMNS),
        "inventory": _records(inventory, INVENTORY_COLUMNS),
        "orders": order_rows,
    }
    if policy is not None:
        request["policy"] = policy
    return request


def build_request(
    locations: pd.DataFrame,
    inventory: pd.DataFrame,
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    policy: dict[str, Any] | None = None,
) -> SolveRequest:
    """A validated request from the four tables. Raises ``InvalidInput`` listing every problem."""
    return parse_solve_request(request_from_tables(locations, inventory, orders, lines, policy))


def tables_from_request(request: dict[str, Any]) -> dict[str, Any]:
    """The four tables (and the policy) of a request dict: the inverse of
    :func:`request_from_tables`, for editing a generated or saved request in pandas."""
    locations = pd.DataFrame(request["locations"]).reindex(columns=list(LOCATION_COLUMNS))
    inventory = pd.DataFrame(request["inventory"], columns=list(INVENTORY_COLUMNS))
    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    for order in request["orders"]:
        row = {k: v for k, v in order.items() if k not in ("lines", "ship_to")}
        ship_to = order.get("ship_to") or {}
        row["ship_lat"], row["ship_lon"] = ship_to.get("lat"), ship_to.get("lon")
        order_rows.append(row)
        line_rows.extend({"order_id": order["id"], **line} for line in order["lines"])
    orders = pd.DataFrame(order_rows).reindex(columns=list(ORDER_COLUMNS))
    # Nullable dtypes: an int column with empty cells stays int (Int64), not float.
    for column in ("max_shipments", "max_units"):
        locations[column] = locations[column].astype("Int64")
    return {
        "locations": locations,
        "inventory": inventory,
        "orders": orders,
        "lines": pd.DataFrame(line_rows, columns=list(LINE_COLUMNS)),
        "policy": dict(request.get("policy") or {}),
    }


def generate_tables(
    orders: int = 150, locations: int = 20, skus: int = 200, seed: int = 1
) -> dict[str, Any]:
    """A realistic generated network and batch (``engine.generate``) as tables."""
    return tables_from_request(generate(Size(orders=orders, locations=locations, skus=skus), seed))


# --- a response to tables --------------------------------------------------------------------


@dataclass
class SolveResult:
    """A solved batch as tables. ``allocations``, ``shipments``, ``unallocated`` and
    ``remaining`` are the response's lists joined with what an analyst asks next (the location's
    kind, the order's priority and delivery, the sku); ``kpis`` the KPI record as one row."""

    request: dict[str, Any]
    response: dict[str, Any]
    allocations: pd.DataFrame
    shipments: pd.DataFrame
    unallocated: pd.DataFrame
    remaining: pd.DataFrame
    kpis: pd.DataFrame
    record: KpiRecord = field(repr=False)

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.response["summary"])

    @property
    def solver(self) -> dict[str, Any]:
        return dict(self.response["solver"])


def _order_table(request: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "order_id": o["id"],
                "priority": o.get("priority", 0),
                "delivery": o["delivery"],
                "ship_lat": (o.get("ship_to") or {}).get("lat"),
                "ship_lon": (o.get("ship_to") or {}).get("lon"),
            }
            for o in request["orders"]
        ],
        columns=["order_id", "priority", "delivery", "ship_lat", "ship_lon"],
    )


def result_tables(
    request: dict[str, Any], response: dict[str, Any], name: str = "batch"
) -> SolveResult:
    """Tables of a response to ``request`` (both contract dicts)."""
    locations = pd.DataFrame(request["locations"])[["id", "kind", "lat", "lon"]].rename(
        columns={"id": "location_id", "kind": "location_kind"}
    )
    orders = _order_table(request)
    line_sku = pd.DataFrame(
        [
            {"order_id": o["id"], "line_id": line["id"], "sku": line["sku"],
             "line_quantity": line["quantity"]}
            for o in request["orders"]
            for line in o["lines"]
        ],
        columns=["order_id", "line_id", "sku", "line_quantity"],
    )  # fmt: skip
    allocations = (
        pd.DataFrame(
            response["allocations"], columns=["order_id", "line_id", "location_id", "quantity"]
        )
        .merge(line_sku, on=["order_id", "line_id"], how="left")
        .merge(orders[["order_id", "priority", "delivery"]], on="order_id", how="left")
        .merge(locations[["location_id", "location_kind"]], on="location_id", how="left")
    )
    shipments = (
        pd.DataFrame(
            response["shipments"], columns=["order_id", "location_id", "distance_km", "cost"]
        )
        .merge(orders, on="order_id", how="left")
        .merge(
            locations.rename(columns={"lat": "location_lat", "lon": "location_lon"}),
            on="location_id",
            how="left",
        )
    )
    unallocated = (
        pd.DataFrame(response["unallocated"], columns=["order_id", "line_id", "quantity", "reason"])
        .merge(line_sku, on=["order_id", "line_id"], how="left")
        .merge(orders[["order_id", "priority", "delivery"]], on="order_id", how="left")
    )
    remaining = pd.DataFrame(response["remaining"], columns=["location_id", "sku", "quantity"])
    remaining = remaining.rename(columns={"quantity": "remaining"})
    remaining.insert(
        2, "available", pd.DataFrame(request["inventory"])["quantity"].to_numpy(dtype=np.int64)
    )
    remaining["allocated"] = remaining["available"] - remaining["remaining"]
    remaining = remaining.merge(locations[["location_id", "location_kind"]], on="location_id")
    record = compute_kpis(name, request, response)
    return SolveResult(
        request=request,
        response=response,
        allocations=allocations,
        shipments=shipments,
        unallocated=unallocated,
        remaining=remaining,
        kpis=kpi_table([record]),
        record=record,
    )


def solve_request(
    request: dict[str, Any] | SolveRequest, *, backend: str = DEFAULT_BACKEND, name: str = "batch"
) -> SolveResult:
    """Solve a request (dict or validated) and return the answer as tables.
    Raises ``InvalidInput`` for a request the contract refuses."""
    if isinstance(request, SolveRequest):
        parsed, raw = request, request.model_dump(mode="json")
    else:
        parsed, raw = parse_solve_request(request), request
    return result_tables(raw, solve(parsed, backend=backend), name)


def solve_tables(
    locations: pd.DataFrame,
    inventory: pd.DataFrame,
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    policy: dict[str, Any] | None = None,
    *,
    backend: str = DEFAULT_BACKEND,
) -> SolveResult:
    """Build the request from the four tables, solve it, and return the answer as tables."""
    return solve_request(
        request_from_tables(locations, inventory, orders, lines, policy), backend=backend
    )


# --- explanations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanations:
    """Why this location, and who took the units (:mod:`engine.explain`), as tables.

    ``shipments``: one row per shipment, with its next-best location and the extra cost of
    moving it there (NaN where no other location could take it whole). ``unfilled``: one row
    per (unfilled line, order that took units it could have had), highest priority first; a
    line nobody took from has one row with empty taker columns.
    """

    shipments: pd.DataFrame
    unfilled: pd.DataFrame


def explain(result: SolveResult) -> Explanations:
    """The explanations of a solved batch (``solve_tables``, ``solve_request``, a scenario
    variant's ``result_tables``)."""
    from engine.explain import explain_response

    explained = explain_response(result.request, result.response)
    shipments = pd.DataFrame(
        explained["shipments"],
        columns=["order_id", "location_id", "units", "alternative_location_id", "extra_cost"],
    )
    unfilled = pd.DataFrame(
        [
            {"order_id": row["order_id"], "line_id": row["line_id"], "missing": row["missing"],
             "taker_order_id": taker["order_id"], "taker_priority": taker["priority"],
             "taker_units": taker["units"]}
            for row in explained["unallocated"]
            for taker in (row["taken_by"] or [{"order_id": None, "priority": None, "units": None}])
        ],
        columns=["order_id", "line_id", "missing", "taker_order_id", "taker_priority",
                 "taker_units"],
    )  # fmt: skip
    return Explanations(shipments=shipments, unfilled=unfilled)


# --- scenarios -------------------------------------------------------------------------------


def load_scenario_text(text: str, base_dir: str | Path = ".") -> ScenarioSource:
    """A scenario written in the notebook as YAML text (request paths relative to
    ``base_dir``). Raises ``ScenarioInvalid`` with the line of each problem."""
    return parse_scenario(text, file="<notebook>", base_dir=Path(base_dir).resolve())


def run_scenario(
    scenario: str | Path | ScenarioSource,
    *,
    seed: int | None = None,
    workers: int = 1,
    out_dir: str | Path | None = None,
    progress: bool = True,
    ray: str | None = None,
) -> ScenarioResult:
    """Run a scenario file (or a parsed scenario) and return its result; ``result.kpis`` is the
    KPI table, one row per variant, baseline first. ``workers`` defaults to 1 (in the kernel's
    process); 2 solves two variants at a time (safe from a plain script, guard or not).
    ``ray="auto"`` (or an address, or ``"local"``) solves the variants on Ray instead."""
    return run_scenario_source(
        scenario, seed=seed, workers=workers, out_dir=out_dir, progress=progress, ray=ray
    )


def scenario_kpis(scenario: str | Path | ScenarioSource, **options: Any) -> pd.DataFrame:
    """Just the KPI table of a scenario run (see :func:`run_scenario` for the options)."""
    return run_scenario(scenario, **options).kpis
