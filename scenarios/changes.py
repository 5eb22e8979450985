"""Apply a variant's change-set to a baseline request: a new request, the baseline untouched.

The "replace" pattern: :func:`apply_changes` takes a request dict and a :class:`ChangeSet` and
returns a changed copy; nothing shared with the baseline is ever written, so one baseline serves
every variant of a scenario (and a notebook can keep comparing against it).

Kinds are applied in a fixed order, so that a variant reads the same whatever order its YAML keys
are written in:

1. ``locations``: overrides of the contract's location fields, ``closed``; pickup orders at a
   location that stopped serving pickup are re-routed to home delivery or cancelled (kept in the
   request's ``cancelled_orders``, so that KPIs still count their demand).
2. ``inventory``: ``factor`` / ``set`` / ``add`` on the selected (location, sku) rows.
3. ``safety_stock``: units withheld per selected row (recorded on the row as ``safety_stock``,
   an extra field the engine ignores, so KPIs can tell an empty shelf from a protected one).
4. ``demand``: ``filter``, then ``scale`` (replicate or sample orders with the scenario's seed).
5. ``policy``: costs, max distance, strategy, time limit, gap.

A selection that names an unknown location or sku, or matches nothing, raises
:class:`ChangeSetError`: a what-if that silently changes nothing would report the baseline's
KPIs under a misleading name.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from scenarios.schema import (
    ChangeSet,
    DemandChange,
    InventoryChange,
    LocationOverride,
    LocationSelection,
    PolicyOverride,
    SafetyStock,
    SkuSelection,
)

Path_ = tuple[str | int, ...]
Request = dict[str, Any]

SAFETY_STOCK_FIELD = "safety_stock"  # units of an inventory row withheld by safety stock
# Orders a change-set cancelled (pickups at a closed store whose customers give up), kept beside
# the request (an extra field the engine ignores) so that KPIs compare variants on the same
# demand: a cancelled order's units count as unfilled, with their own reason.
CANCELLED_ORDERS_FIELD = "cancelled_orders"
CANCELLED_REASON = "cancelled"
CLONE_JITTER_KM = 3.0  # standard deviation of a demand copy's address from its original's
KM_PER_DEGREE = 111.2


class ChangeSetError(ValueError):
    """A change-set that does not fit its baseline. ``problems``: (path within the change-set,
    message) pairs, so that the scenario layer can name the line of each."""

    def __init__(self, problems: list[tuple[Path_, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))


def apply_changes(request: Mapping[str, Any], changes: ChangeSet, *, seed: int = 0) -> Request:
    """The baseline ``request`` (contract JSON as a dict) with ``changes`` applied, as a new dict.

    ``seed`` drives demand sampling (fractional ``scale``). Raises :class:`ChangeSetError` listing
    every selection that does not fit the baseline.
    """
    # One deep copy up front: every step below may then edit the new request in place without
    # any risk of writing through to the baseline's nested dicts (ship_to, lines, policy).
    new: Request = copy.deepcopy(dict(request))
    new.setdefault("policy", {})
    problems: list[tuple[Path_, str]] = []
    for index, override in enumerate(changes.locations):
        _override_locations(new, override, ("locations", index), problems)
    for index, change in enumerate(changes.inventory):
        _change_inventory(new, change, ("inventory", index), problems)
    for index, safety in enumerate(changes.safety_stock):
        rows = _select_rows(new, safety, ("safety_stock", index), problems)
        for row in rows:
            # The units stay on the shelf, just not promised: the row remembers them (an extra
            # field, which the contract lets senders add) so that KPIs about shelves left empty
            # count what is physically there.
            withheld = min(row["quantity"], safety.units)
            row["quantity"] -= withheld
            row[SAFETY_STOCK_FIELD] = row.get(SAFETY_STOCK_FIELD, 0) + withheld
    if changes.demand is not None:
        _change_demand(new, changes.demand, seed, problems)
    if changes.policy is not None:
        new["policy"] = apply_policy(new["policy"], changes.policy)
    if problems:
        raise ChangeSetError(problems)
    return new


def apply_policy(policy: Mapping[str, Any] | None, override: PolicyOverride) -> dict[str, Any]:
    """A request's policy with ``override``'s fields written over it (a new dict)."""
    new = copy.deepcopy(dict(policy or {}))
    new.update(override.field_overrides())
    if override.shipment_cost is not None:
        costs = dict(new.get("shipment_cost") or {})
        for kind in ("warehouse", "store"):
            value = getattr(override.shipment_cost, kind)
            if value is not None:
                costs[kind] = value
        new["shipment_cost"] = costs
    return new


# --- selections ------------------------------------------------------------------------------


def select_locations(
    locations: list[dict[str, Any]],
    selection: LocationSelection,
    path: Path_,
    problems: list[tuple[Path_, str]],
) -> list[int]:
    """Indices of the locations the selection names; records unknown ids and empty selections."""
    known = {location["id"] for location in locations}
    for index, location_id in enumerate(selection.ids or []):
        if location_id not in known:
            problems.append(((*path, "ids", index), f"unknown location id {location_id!r}"))
    ids = set(selection.ids or [])
    chosen = [
        index
        for index, location in enumerate(locations)
        if (selection.ids is None or location["id"] in ids)
        and (selection.kind is None or location["kind"] == selection.kind)
        and (selection.pattern is None or fnmatch.fnmatchcase(location["id"], selection.pattern))
    ]
    if not chosen and not (selection.ids and ids - known):
        problems.append((path, "the selection matches no location"))
    return chosen


def _sku_matches(sku: str, selection: SkuSelection) -> bool:
    return (selection.skus is None or sku in selection.skus) and (
        selection.sku_pattern is None or fnmatch.fnmatchcase(sku, selection.sku_pattern)
    )


def _known_skus(request: Request) -> set[str]:
    skus = {row["sku"] for row in request["inventory"]}
    skus.update(line["sku"] for order in request["orders"] for line in order["lines"])
    return skus


def _select_rows(
    request: Request,
    selection: InventoryChange | SafetyStock,
    path: Path_,
    problems: list[tuple[Path_, str]],
    *,
    empty_is_error: bool = True,
) -> list[dict[str, Any]]:
    """The inventory rows (dicts of ``request``, to edit in place) a selection names."""
    locations = request["locations"]
    if selection.selects_all:
        location_ids = {location["id"] for location in locations}
    else:
        chosen = select_locations(locations, selection, path, problems)
        location_ids = {locations[index]["id"] for index in chosen}
    known_skus = _known_skus(request)
    for index, sku in enumerate(selection.skus or []):
        if sku not in known_skus:
            problems.append(((*path, "skus", index), f"unknown sku {sku!r}"))
    rows = [
        row
        for row in request["inventory"]
        if row["location_id"] in location_ids and _sku_matches(row["sku"], selection)
    ]
    if not rows and empty_is_error and location_ids:
        problems.append((path, "the selection matches no inventory row"))
    return rows


# --- the change kinds ------------------------------------------------------------------------


def _serves_pickup(location: Mapping[str, Any]) -> bool:
    pickup = location.get("pickup")
    return pickup if isinstance(pickup, bool) else location["kind"] == "store"


def _override_locations(
    request: Request, override: LocationOverride, path: Path_, problems: list[tuple[Path_, str]]
) -> None:
    locations = request["locations"]
    chosen = select_locations(locations, override, path, problems)
    fields = override.field_overrides()
    if override.closed:
        # Closed for the batch: nothing leaves it, by either channel. Its stock stays listed (the
        # `remaining` of the response still reports it), it is just not promised.
        fields.update(ships=False, pickup=False)
    orphaned: dict[str, dict[str, Any]] = {}
    for index in chosen:
        location = locations[index]
        for name, value in fields.items():
            if value is None:
                location.pop(name, None)  # null: back to the contract's default (unlimited, ...)
            else:
                location[name] = value
        if not _serves_pickup(location):
            orphaned[location["id"]] = location
    if not orphaned:
        return
    kept = []
    cancelled = request.setdefault(CANCELLED_ORDERS_FIELD, [])
    for order in request["orders"]:
        store = (
            orphaned.get(order.get("pickup_location_id", ""))
            if order.get("delivery") == "pickup"
            else None
        )
        if store is None:
            kept.append(order)
        elif override.orphaned_pickup == "ship":
            # Click-and-collect re-routed to home delivery: the customer lives near the store.
            order.pop("pickup_location_id", None)
            order["delivery"] = "ship"
            order["ship_to"] = {"lat": store["lat"], "lon": store["lon"]}
            kept.append(order)
        else:
            cancelled.append(order)
    request["orders"] = kept
    if not cancelled:
        del request[CANCELLED_ORDERS_FIELD]


def _change_inventory(
    request: Request, change: InventoryChange, path: Path_, problems: list[tuple[Path_, str]]
) -> None:
    adds_pairs = change.set is not None and change.ids is not None and change.skus is not None
    rows = _select_rows(request, change, path, problems, empty_is_error=not adds_pairs)
    for row in rows:
        if change.factor is not None:
            # Round down: a scaled position never promises a unit that is not on the shelf.
            row["quantity"] = math.floor(row["quantity"] * change.factor + 1e-9)
        elif change.set is not None:
            row["quantity"] = change.set
        elif change.add is not None:
            row["quantity"] = max(0, row["quantity"] + change.add)
    if adds_pairs:
        assert change.ids is not None and change.skus is not None and change.set is not None
        known = {location["id"] for location in request["locations"]}
        listed = {(row["location_id"], row["sku"]) for row in request["inventory"]}
        for location_id in change.ids:
            for sku in change.skus:
                if location_id in known and (location_id, sku) not in listed:
                    request["inventory"].append(
                        {"location_id": location_id, "sku": sku, "quantity": change.set}
                    )


def _order_matches(order: Mapping[str, Any], change: DemandChange) -> bool:
    wanted = change.filter
    if wanted is None:
        return True
    priority = order.get("priority", 0)
    return (
        (wanted.delivery is None or order["delivery"] == wanted.delivery)
        and (wanted.priorities is None or priority in wanted.priorities)
        and (wanted.min_priority is None or priority >= wanted.min_priority)
        and (wanted.max_priority is None or priority <= wanted.max_priority)
        and (wanted.order_pattern is None or fnmatch.fnmatchcase(order["id"], wanted.order_pattern))
    )


def _change_demand(
    request: Request, change: DemandChange, seed: int, problems: list[tuple[Path_, str]]
) -> None:
    orders = [order for order in request["orders"] if _order_matches(order, change)]
    if not orders:
        problems.append((("demand", "filter"), "the filter keeps no order"))
        return
    n_orders = len(orders)
    whole = math.floor(change.scale + 1e-9)
    fraction = change.scale - whole
    # The sample depends on the seed and the batch only, so every variant with the same scale
    # draws the same orders and their KPIs compare like for like.
    rng = np.random.default_rng(seed)
    if whole == 0:
        keep = max(1, round(change.scale * n_orders))
        chosen = np.sort(rng.choice(n_orders, size=keep, replace=False))
        request["orders"] = [orders[index] for index in chosen.tolist()]
        return
    copies = np.full(n_orders, whole, dtype=np.int64)
    extra = round(fraction * n_orders)
    if extra:
        copies[rng.choice(n_orders, size=extra, replace=False)] += 1
    # Extra demand comes from the same neighbourhoods, not the same front doors: copies ship to a
    # point a few km from the original. This also spares the optimiser thousands of exactly
    # symmetric orders, which make proving the cost optimum needlessly slow.
    n_copies = int((copies - 1).sum())
    offset_km = rng.normal(0.0, CLONE_JITTER_KM, size=(n_copies, 2))
    scaled = []
    made = 0
    for order, count in zip(orders, copies.tolist(), strict=True):
        scaled.append(order)
        for copy_number in range(2, count + 1):
            clone = copy.deepcopy(order)
            clone["id"] = f"{order['id']}~{copy_number}"
            if clone.get("ship_to") is not None:
                lat = clone["ship_to"]["lat"]
                dlat = offset_km[made, 0] / KM_PER_DEGREE
                dlon = offset_km[made, 1] / (KM_PER_DEGREE * max(math.cos(math.radians(lat)), 0.1))
                clone["ship_to"] = {
                    "lat": round(min(90.0, max(-90.0, lat + dlat)), 5),
                    "lon": round(min(180.0, max(-180.0, clone["ship_to"]["lon"] + dlon)), 5),
                }
            made += 1
            scaled.append(clone)
    request["orders"] = scaled


# --- words for the report --------------------------------------------------------------------


def describe_changes(changes: ChangeSet) -> list[str]:
    """One short phrase per change, for reports and tables (``stores: max_shipments 40``)."""
    phrases = []
    for override in changes.locations:
        fields = [f"{k} {_fmt(v, k)}" for k, v in override.field_overrides().items()]
        if override.closed:
            rerouted = (
                "re-routed to delivery" if override.orphaned_pickup == "ship" else "cancelled"
            )
            fields.insert(0, f"closed (pickup orders {rerouted})")
        phrases.append(f"{_where(override)}: {', '.join(fields)}")
    for change in changes.inventory:
        op = (
            f"stock x{change.factor:g}"
            if change.factor is not None
            else f"stock set to {change.set}"
            if change.set is not None
            else f"stock {change.add:+d}"
        )
        phrases.append(f"{_where(change)}{_skus(change)}: {op}")
    for safety in changes.safety_stock:
        phrases.append(f"{_where(safety)}{_skus(safety)}: safety stock {safety.units} per sku")
    if changes.demand is not None:
        if changes.demand.filter is not None:
            kept = changes.demand.filter.model_dump(exclude_none=True)
            phrases.append("demand filtered to " + ", ".join(f"{k} {v}" for k, v in kept.items()))
        if changes.demand.scale != 1.0:
            phrases.append(f"demand x{changes.demand.scale:g}")
    if changes.policy is not None:
        items = changes.policy.field_overrides()
        if changes.policy.shipment_cost is not None:
            items.update(
                {
                    f"shipment_cost.{kind}": value
                    for kind, value in changes.policy.shipment_cost.model_dump().items()
                    if value is not None
                }
            )
        phrases.append("policy: " + ", ".join(f"{k} {_fmt(v, k)}" for k, v in items.items()))
    return phrases


def _where(selection: LocationSelection) -> str:
    if selection.selects_all:
        return "all locations"
    parts = []
    if selection.ids is not None:
        parts.append(", ".join(selection.ids))
    if selection.kind is not None:
        parts.append(f"{selection.kind}s")
    if selection.pattern is not None:
        parts.append(f"ids {selection.pattern}")
    return " ".join(parts)


def _skus(selection: SkuSelection) -> str:
    if selection.skus is not None:
        return f" ({len(selection.skus)} skus)"
    if selection.sku_pattern is not None:
        return f" (skus {selection.sku_pattern})"
    return ""


def _fmt(value: Any, name: str = "") -> str:
    if value is None:
        return "policy default" if name == "shipment_cost" else "unlimited"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
