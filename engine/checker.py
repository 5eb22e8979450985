"""The checker: verifies a solve response against its request, rule by rule of the contract.

Written from ``shared/contract/solve.md`` alone, apart from the optimiser (it imports nothing from
``engine.optimizer``, ``engine.problem`` or ``engine.result``, not even their haversine): a bug in
the optimiser's reading of the contract must not be repeated here, or the two would agree on it.
Plain Python over dictionaries, because clarity is the point; it still checks 10k orders in about a
second.

What it verifies:

- the allocation rules: stock per (location, sku); quantity per line; eligibility (``ships`` and
  the great-circle distance within the order's or the policy's max distance for ship orders, only
  the pickup location for pickup orders); ``allow_split``; ``allow_partial``; ``max_shipments``
  (pickup orders count) and ``max_units`` per location;
- the figures, recomputed: one shipment per (order, location) pair used, with its distance and
  cost; ``remaining`` per inventory row; one ``unallocated`` row per line that misses units, with
  the missing quantity and a reason from the closed list that does not contradict the request;
  the summary; the solver block (objective, bound, gap).

A response whose *shape* is broken (a missing field, a quantity that is not an integer, ...) cannot
be checked rule by rule: :func:`check` raises :class:`models.problems.InvalidInput` for it, listing
every problem with its path, as the request side does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from models.problems import InvalidInput, Problem, problems_from_validation_error
from models.solve import Location, Order, SolveRequest, UnallocatedReason

EARTH_RADIUS_KM = 6371.0
# Money and distances are compared after the response rounded them to 2 decimals: half a cent of
# rounding, plus float noise, plus a different but legitimate order of summation.
MONEY_TOLERANCE = 0.011
DISTANCE_TOLERANCE_KM = 0.011
# The distance limit is inclusive. Two correct haversine implementations can differ in the last
# bits; a location exactly at the limit must not be refused for that.
DISTANCE_LIMIT_SLACK_KM = 1e-9
# The gap is a ratio of two rounded figures: allow what rounding each by half a cent can move it.
GAP_TOLERANCE = 1e-6

REASONS: frozenset[str] = frozenset(reason.value for reason in UnallocatedReason)
STATUSES: frozenset[str] = frozenset({"optimal", "feasible"})

OrderLine = tuple[str, str]  # (order id, line id)
StockKey = tuple[str, str]  # (location id, sku)
ShipmentKey = tuple[str, str]  # (order id, location id)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a stable code (``rule``), where in the response or request, and why."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


class ResponseInvalid(AssertionError):
    """Raised by :func:`assert_valid`; carries every violation found."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations: list[Violation] = list(violations)
        lines = [f"response breaks the contract: {len(self.violations)} violation(s)"]
        lines += [f"  - {violation}" for violation in self.violations]
        super().__init__("\n".join(lines))


# --- the response's shape -----------------------------------------------------------------------
# Deliberately lenient where a rule decides (an unknown reason or status, a zero or negative
# quantity are violations with their own codes, not shape errors) and strict where nothing could
# be checked otherwise (quantities are JSON integers, ids are strings, figures are numbers).


# A JSON number: an integer is fine (``"cost": 0``), a string or a boolean is not.
Figure = Annotated[StrictFloat, Field(allow_inf_nan=False)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _AllocationRow(_Row):
    order_id: StrictStr
    line_id: StrictStr
    location_id: StrictStr
    quantity: StrictInt


class _UnallocatedRow(_Row):
    order_id: StrictStr
    line_id: StrictStr
    quantity: StrictInt
    reason: StrictStr


class _RemainingRow(_Row):
    location_id: StrictStr
    sku: StrictStr
    quantity: StrictInt


class _ShipmentRow(_Row):
    order_id: StrictStr
    location_id: StrictStr
    distance_km: Figure
    cost: Figure


class _PriorityFillRow(_Row):
    priority: StrictInt
    units_requested: StrictInt
    units_allocated: StrictInt


class _SummaryShape(_Row):
    orders: StrictInt
    orders_fully_allocated: StrictInt
    units_requested: StrictInt
    units_allocated: StrictInt
    shipments: StrictInt
    split_orders: StrictInt
    total_cost: Figure
    by_priority: list[_PriorityFillRow] | None = None


class _SolverShape(_Row):
    name: StrictStr
    status: StrictStr
    objective: Figure
    bound: Figure
    gap: Figure
    seconds: Figure


class _ResponseShape(_Row):
    allocations: list[_AllocationRow]
    unallocated: list[_UnallocatedRow]
    remaining: list[_RemainingRow]
    shipments: list[_ShipmentRow]
    summary: _SummaryShape
    solver: _SolverShape


def _parse_response(response: Any) -> _ResponseShape:
    if not isinstance(response, Mapping):
        raise InvalidInput(
            [Problem((), "the response must be a JSON object", "model_type")], "response"
        )
    try:
        return _ResponseShape.model_validate(dict(response))
    except ValidationError as exc:
        raise InvalidInput(problems_from_validation_error(exc), "response") from None


def _parse_allocations(allocations: Any) -> list[_AllocationRow]:
    if not isinstance(allocations, list):
        raise InvalidInput(
            [Problem(("allocations",), "must be a list of allocation rows", "list_type")],
            "response",
        )
    rows = []
    problems: list[Problem] = []
    for position, row in enumerate(allocations):
        try:
            rows.append(_AllocationRow.model_validate(row))
        except ValidationError as exc:
            problems += problems_from_validation_error(exc, ("allocations", position))
    if problems:
        raise InvalidInput(problems, "response")
    return rows


# --- the request, indexed once ------------------------------------------------------------------


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees (Earth radius 6371.0)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = math.radians(lon2 - lon1) / 2.0
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    # min(): float noise can push a just above 1 for antipodal points.
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


class _RequestIndex:
    """The request's ids resolved to objects, and the contract's derived figures per pair."""

    def __init__(self, request: SolveRequest) -> None:
        self.request = request
        self.policy = request.policy
        self.locations: dict[str, Location] = {loc.id: loc for loc in request.locations}
        self.orders: dict[str, Order] = {order.id: order for order in request.orders}
        self.line_quantity: dict[OrderLine, int] = {}
        self.line_sku: dict[OrderLine, str] = {}
        for order in request.orders:
            for line in order.lines:
                self.line_quantity[order.id, line.id] = line.quantity
                self.line_sku[order.id, line.id] = line.sku
        self.stock: dict[StockKey, int] = {
            (row.location_id, row.sku): row.quantity for row in request.inventory
        }
        # Locations holding a sku, so that "is it anywhere in reach" never scans every location.
        self.holders: dict[str, list[str]] = defaultdict(list)
        for (location_id, sku), quantity in self.stock.items():
            if quantity > 0:
                self.holders[sku].append(location_id)
        self._distance_km: dict[ShipmentKey, float] = {}

    def distance_km(self, order: Order, location: Location) -> float:
        """Unrounded distance from the location to the order's ship_to; 0 for pickup orders."""
        if order.delivery == "pickup" or order.ship_to is None:
            return 0.0
        key = (order.id, location.id)
        distance = self._distance_km.get(key)
        if distance is None:
            to = order.ship_to
            distance = haversine_km(location.lat, location.lon, to.lat, to.lon)
            self._distance_km[key] = distance
        return distance

    def max_distance_km(self, order: Order) -> float | None:
        # The order's own limit overrides the policy's, whether tighter or looser.
        if order.max_distance_km is not None:
            return order.max_distance_km
        return self.policy.max_distance_km

    def ineligibility(self, order: Order, location: Location) -> tuple[str, str] | None:
        """Why the location may not serve the order, as (rule, message); None if it may."""
        if location.id in order.exclude_location_ids:
            return (
                "excluded_location",
                f"location {location.id!r} is in the order's exclude_location_ids",
            )
        if order.delivery == "pickup":
            if location.id != order.pickup_location_id:
                return (
                    "pickup_wrong_location",
                    f"pickup order is collected at {order.pickup_location_id!r}, "
                    f"not served by {location.id!r}",
                )
            return None
        if not location.ships:
            return ("ships_false", f"location {location.id!r} does not ship (ships is false)")
        limit = self.max_distance_km(order)
        if limit is not None:
            distance = self.distance_km(order, location)
            if distance > limit + DISTANCE_LIMIT_SLACK_KM:
                return (
                    "beyond_max_distance",
                    f"location {location.id!r} is {distance:.3f} km away, "
                    f"beyond the max distance of {limit} km",
                )
        return None

    def shipment_cost(self, order: Order, location: Location) -> float:
        """Unrounded cost of the (order, location) shipment, unit costs left out."""
        if order.delivery == "pickup":
            return 0.0
        base = location.shipment_cost
        if base is None:
            base = getattr(self.policy.shipment_cost, location.kind)
        return base + self.policy.cost_per_km * self.distance_km(order, location)


# --- what was allocated ---------------------------------------------------------------------------


@dataclass
class _Ledger:
    """The allocations of a response summed every way the rules need them (known ids only)."""

    by_line: dict[OrderLine, int] = field(default_factory=lambda: defaultdict(int))
    by_stock: dict[StockKey, int] = field(default_factory=lambda: defaultdict(int))
    # Insertion-ordered: shipments are reported in the order the allocations first use them.
    by_shipment: dict[ShipmentKey, int] = field(default_factory=dict)
    units_by_location: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    orders_by_location: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    locations_by_order: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    units_by_order: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _ledger(
    index: _RequestIndex, rows: Sequence[_AllocationRow]
) -> tuple[_Ledger, list[Violation]]:
    ledger = _Ledger()
    violations: list[Violation] = []
    seen: dict[tuple[str, str, str], int] = {}
    for position, row in enumerate(rows):
        where = f"allocations.{position}"
        known = True
        if row.order_id not in index.orders:
            violations.append(Violation("unknown_id", where, f"unknown order {row.order_id!r}"))
            known = False
        elif (row.order_id, row.line_id) not in index.line_quantity:
            violations.append(
                Violation(
                    "unknown_id", where, f"order {row.order_id!r} has no line {row.line_id!r}"
                )
            )
            known = False
        if row.location_id not in index.locations:
            violations.append(
                Violation("unknown_id", where, f"unknown location {row.location_id!r}")
            )
            known = False
        if row.quantity <= 0:
            violations.append(
                Violation(
                    "zero_quantity_allocation",
                    where,
                    f"allocations carry quantity > 0 only, got {row.quantity}",
                )
            )
            continue
        triple = (row.order_id, row.line_id, row.location_id)
        if triple in seen:
            # Summing duplicates would be one reading; the contract's shape is one row per
            # (order, line, location), and an OMS that keys on that triple would lose units.
            violations.append(
                Violation(
                    "duplicate_allocation",
                    where,
                    f"order {row.order_id!r} line {row.line_id!r} at {row.location_id!r} "
                    f"is already allocated at allocations.{seen[triple]}",
                )
            )
        else:
            seen[triple] = position
        if not known:
            continue
        sku = index.line_sku[row.order_id, row.line_id]
        ledger.by_line[row.order_id, row.line_id] += row.quantity
        ledger.by_stock[row.location_id, sku] += row.quantity
        pair = (row.order_id, row.location_id)
        if pair not in ledger.by_shipment:
            ledger.by_shipment[pair] = 0
            ledger.orders_by_location[row.location_id].add(row.order_id)
            ledger.locations_by_order[row.order_id].append(row.location_id)
        ledger.by_shipment[pair] += row.quantity
        ledger.units_by_location[row.location_id] += row.quantity
        ledger.units_by_order[row.order_id] += row.quantity
    return ledger, violations


# --- the four allocation rules ------------------------------------------------------------------


def _stock_and_line_violations(index: _RequestIndex, ledger: _Ledger) -> Iterable[Violation]:
    for (location_id, sku), units in ledger.by_stock.items():
        stock = index.stock.get((location_id, sku), 0)
        if units > stock:
            yield Violation(
                "stock_exceeded",
                f"location {location_id} / sku {sku}",
                f"{units} unit(s) allocated, {stock} in stock",
            )
    for (order_id, line_id), units in ledger.by_line.items():
        quantity = index.line_quantity[order_id, line_id]
        if units > quantity:
            yield Violation(
                "line_overfilled",
                f"order {order_id} / line {line_id}",
                f"{units} unit(s) allocated, {quantity} ordered",
            )


def _eligibility_violations(index: _RequestIndex, ledger: _Ledger) -> Iterable[Violation]:
    for order_id, location_id in ledger.by_shipment:
        reason = index.ineligibility(index.orders[order_id], index.locations[location_id])
        if reason is not None:
            rule, message = reason
            yield Violation(rule, f"order {order_id} / location {location_id}", message)


def _order_rule_violations(index: _RequestIndex, ledger: _Ledger) -> Iterable[Violation]:
    for order_id, locations in ledger.locations_by_order.items():
        order = index.orders[order_id]
        if not order.allow_split and len(locations) > 1:
            yield Violation(
                "split_not_allowed",
                f"order {order_id}",
                f"allow_split is false, served by {len(locations)} locations: "
                + ", ".join(locations),
            )
        if not order.allow_partial:
            short = [
                line.id
                for line in order.lines
                if ledger.by_line.get((order_id, line.id), 0) < line.quantity
            ]
            if short:
                yield Violation(
                    "partial_not_allowed",
                    f"order {order_id}",
                    "allow_partial is false, but it got units while line(s) "
                    + ", ".join(short)
                    + " are short",
                )


def _capacity_violations(index: _RequestIndex, ledger: _Ledger) -> Iterable[Violation]:
    for location_id, orders in ledger.orders_by_location.items():
        location = index.locations[location_id]
        if location.max_shipments is not None and len(orders) > location.max_shipments:
            yield Violation(
                "max_shipments_exceeded",
                f"location {location_id}",
                f"{len(orders)} shipment(s), max_shipments is {location.max_shipments}",
            )
        units = ledger.units_by_location[location_id]
        if location.max_units is not None and units > location.max_units:
            yield Violation(
                "max_units_exceeded",
                f"location {location_id}",
                f"{units} unit(s), max_units is {location.max_units}",
            )


def _allocation_rule_violations(index: _RequestIndex, ledger: _Ledger) -> list[Violation]:
    return [
        *_stock_and_line_violations(index, ledger),
        *_eligibility_violations(index, ledger),
        *_order_rule_violations(index, ledger),
        *_capacity_violations(index, ledger),
    ]


# --- the figures, recomputed ----------------------------------------------------------------------


def _total_cost(index: _RequestIndex, ledger: _Ledger) -> float:
    """Unrounded: shipment costs plus unit costs, as the contract sums them before rounding."""
    total = 0.0
    for (order_id, location_id), units in ledger.by_shipment.items():
        location = index.locations[location_id]
        total += index.shipment_cost(index.orders[order_id], location)
        total += location.unit_cost * units
    return total


def _shipment_violations(
    index: _RequestIndex, ledger: _Ledger, rows: Sequence[_ShipmentRow]
) -> Iterable[Violation]:
    reported: dict[ShipmentKey, int] = {}
    for position, row in enumerate(rows):
        where = f"shipments.{position}"
        order = index.orders.get(row.order_id)
        location = index.locations.get(row.location_id)
        if order is None or location is None:
            unknown = "order" if order is None else "location"
            value = row.order_id if order is None else row.location_id
            yield Violation("unknown_id", where, f"unknown {unknown} {value!r}")
            continue
        pair = (row.order_id, row.location_id)
        if pair in reported:
            yield Violation(
                "shipments_mismatch",
                where,
                f"order {row.order_id!r} from {row.location_id!r} already at "
                f"shipments.{reported[pair]}; one row per (order, location) pair",
            )
            continue
        reported[pair] = position
        if pair not in ledger.by_shipment:
            yield Violation(
                "shipments_mismatch",
                where,
                f"no units of order {row.order_id!r} are allocated at {row.location_id!r}",
            )
            continue
        distance = index.distance_km(order, location)
        if abs(row.distance_km - round(distance, 2)) > DISTANCE_TOLERANCE_KM:
            yield Violation(
                "distance_mismatch",
                where,
                f"distance_km {row.distance_km}, expected {round(distance, 2)}",
            )
        cost = index.shipment_cost(order, location)
        if abs(row.cost - round(cost, 2)) > MONEY_TOLERANCE:
            yield Violation(
                "shipment_cost_mismatch", where, f"cost {row.cost}, expected {round(cost, 2)}"
            )
    for order_id, location_id in ledger.by_shipment:
        if (order_id, location_id) not in reported:
            yield Violation(
                "shipments_mismatch",
                f"order {order_id} / location {location_id}",
                "units are allocated here but no shipment row reports the pair",
            )


def _remaining_violations(
    index: _RequestIndex, ledger: _Ledger, rows: Sequence[_RemainingRow]
) -> Iterable[Violation]:
    reported: dict[StockKey, int] = {}
    for position, row in enumerate(rows):
        where = f"remaining.{position}"
        key = (row.location_id, row.sku)
        if key not in index.stock:
            yield Violation(
                "remaining_mismatch",
                where,
                f"location {row.location_id!r} / sku {row.sku!r} is not an inventory row "
                "of the request",
            )
            continue
        if key in reported:
            yield Violation(
                "remaining_mismatch",
                where,
                f"location {row.location_id!r} / sku {row.sku!r} already at "
                f"remaining.{reported[key]}",
            )
            continue
        reported[key] = position
        expected = index.stock[key] - ledger.by_stock.get(key, 0)
        if row.quantity != expected:
            yield Violation(
                "remaining_mismatch",
                where,
                f"quantity {row.quantity}, expected {expected} "
                f"({index.stock[key]} in stock - {ledger.by_stock.get(key, 0)} allocated)",
            )
    for location_id, sku in index.stock:
        if (location_id, sku) not in reported:
            yield Violation(
                "remaining_mismatch",
                f"location {location_id} / sku {sku}",
                "inventory row of the request missing from remaining",
            )


Taker = tuple[int, str, str]  # (priority, order id, line id) of a line given units


def _takers(index: _RequestIndex, rows: Sequence[_AllocationRow]) -> dict[StockKey, list[Taker]]:
    """(sku, location) -> the lines given its units, least urgent first."""
    takers: dict[StockKey, set[Taker]] = defaultdict(set)
    for row in rows:
        if row.quantity <= 0 or (row.order_id, row.line_id) not in index.line_sku:
            continue
        sku = index.line_sku[row.order_id, row.line_id]
        priority = index.orders[row.order_id].priority
        takers[sku, row.location_id].add((priority, row.order_id, row.line_id))
    return {key: sorted(value) for key, value in takers.items()}


def _reason_contradiction(
    index: _RequestIndex,
    ledger: _Ledger,
    takers: Mapping[StockKey, list[Taker]],
    solver_status: str,
    order: Order,
    line_id: str,
    sku: str,
    reason: str,
) -> str | None:
    """Why the reason cannot be true of this line, or None.

    Only what the request and response refute: the closed list's definitions leave room for
    judgement (which of several causes is "first"), and the checker does not second-guess it.
    """
    holders = [index.locations[location_id] for location_id in index.holders.get(sku, [])]
    eligible = [loc for loc in holders if index.ineligibility(order, loc) is None]
    if reason == UnallocatedReason.OUT_OF_STOCK:
        # The order's whole demand for the sku, as two lines of one order may share a sku.
        demand = sum(line.quantity for line in order.lines if line.sku == sku)
        reach = sum(index.stock[loc.id, sku] for loc in eligible)
        if reach >= demand:
            return f"locations that may serve the order hold {reach} of the {demand} unit(s) asked"
    elif reason == UnallocatedReason.NO_ELIGIBLE_LOCATION:
        if len(eligible) == len(holders):
            return "every location holding the sku may serve the order"
    elif reason == UnallocatedReason.OUTRANKED:
        # takers are sorted by priority: the last one is the most urgent.
        if not any(
            takers[sku, loc.id][-1][0] > order.priority
            for loc in eligible
            if (sku, loc.id) in takers
        ):
            return "no higher-priority order got the sku at a location that may serve this one"
    elif reason == UnallocatedReason.ALLOCATED_TO_OTHER_ORDERS:
        # Another line of the same order counts: the closed list has no closer reason for a
        # line that lost the last unit to its sibling of the same sku.
        if not any(
            taker_priority <= order.priority and (taker_order, taker_line) != (order.id, line_id)
            for loc in eligible
            # The least urgent two: if one is this line itself, the other decides.
            for taker_priority, taker_order, taker_line in takers.get((sku, loc.id), [])[:2]
        ):
            return (
                "no other line of the same or lower priority got the sku at a location "
                "that may serve this one"
            )
    elif reason == UnallocatedReason.CAPACITY:
        if not any(_capacity_reached(loc, ledger) for loc in eligible):
            return "no location that may serve the order and holds the sku reached a capacity"
    elif reason == UnallocatedReason.CANNOT_SPLIT:
        if order.allow_split:
            return "the order allows splitting"
    elif reason == UnallocatedReason.ALL_OR_NOTHING:
        if order.allow_partial:
            return "the order allows partial fills"
    elif reason == UnallocatedReason.TIME_LIMIT and solver_status != "feasible":
        return f"the solver reports {solver_status!r}, not a stop at the time limit"
    return None


def _capacity_reached(location: Location, ledger: _Ledger) -> bool:
    shipments = len(ledger.orders_by_location.get(location.id, ()))
    units = ledger.units_by_location.get(location.id, 0)
    return (location.max_shipments is not None and shipments >= location.max_shipments) or (
        location.max_units is not None and units >= location.max_units
    )


def _unallocated_violations(
    index: _RequestIndex, ledger: _Ledger, shape: _ResponseShape
) -> Iterable[Violation]:
    takers = _takers(index, shape.allocations)
    reported: dict[OrderLine, int] = {}
    for position, row in enumerate(shape.unallocated):
        where = f"unallocated.{position}"
        key = (row.order_id, row.line_id)
        if row.order_id not in index.orders:
            yield Violation("unknown_id", where, f"unknown order {row.order_id!r}")
            continue
        if key not in index.line_quantity:
            yield Violation(
                "unknown_id", where, f"order {row.order_id!r} has no line {row.line_id!r}"
            )
            continue
        if row.reason not in REASONS:
            yield Violation(
                "unknown_reason",
                where,
                f"reason {row.reason!r} is not in the closed list: " + ", ".join(sorted(REASONS)),
            )
        if key in reported:
            yield Violation(
                "unallocated_mismatch",
                where,
                f"order {row.order_id!r} line {row.line_id!r} already at "
                f"unallocated.{reported[key]}; one row per line",
            )
            continue
        reported[key] = position
        missing = index.line_quantity[key] - ledger.by_line.get(key, 0)
        if row.quantity != missing:
            yield Violation(
                "unallocated_mismatch",
                where,
                f"quantity {row.quantity}, but the line misses {max(missing, 0)} unit(s)",
            )
            continue
        if row.reason in REASONS:
            contradiction = _reason_contradiction(
                index,
                ledger,
                takers,
                shape.solver.status,
                index.orders[row.order_id],
                row.line_id,
                index.line_sku[key],
                row.reason,
            )
            if contradiction is not None:
                yield Violation(
                    "reason_inconsistent", where, f"reason {row.reason!r}: {contradiction}"
                )
    for key, quantity in index.line_quantity.items():
        missing = quantity - ledger.by_line.get(key, 0)
        if missing > 0 and key not in reported:
            yield Violation(
                "unallocated_mismatch",
                f"order {key[0]} / line {key[1]}",
                f"the line misses {missing} unit(s) but has no unallocated row",
            )


def _summary_violations(
    index: _RequestIndex, ledger: _Ledger, summary: _SummaryShape, total_cost: float
) -> Iterable[Violation]:
    fully = sum(
        all(ledger.by_line.get((order.id, line.id), 0) >= line.quantity for line in order.lines)
        for order in index.request.orders
    )
    expected = {
        "orders": len(index.request.orders),
        "orders_fully_allocated": fully,
        "units_requested": sum(index.line_quantity.values()),
        "units_allocated": sum(ledger.by_line.values()),
        "shipments": len(ledger.by_shipment),
        "split_orders": sum(len(locs) > 1 for locs in ledger.locations_by_order.values()),
    }
    for name, value in expected.items():
        got = getattr(summary, name)
        if got != value:
            yield Violation("summary_mismatch", f"summary.{name}", f"{got}, expected {value}")
    if abs(summary.total_cost - round(total_cost, 2)) > MONEY_TOLERANCE:
        yield Violation(
            "total_cost_mismatch",
            "summary.total_cost",
            f"{summary.total_cost}, expected {round(total_cost, 2)}",
        )
    if summary.by_priority is not None:
        expected_rows = _fill_rows(index, ledger)
        got_rows = [
            (row.priority, row.units_requested, row.units_allocated) for row in summary.by_priority
        ]
        if got_rows != expected_rows:
            yield Violation(
                "summary_mismatch",
                "summary.by_priority",
                f"(priority, requested, allocated) {got_rows}, expected {expected_rows} "
                "(highest priority first)",
            )


def _fill_rows(index: _RequestIndex, ledger: _Ledger) -> list[tuple[int, int, int]]:
    requested: dict[int, int] = defaultdict(int)
    allocated: dict[int, int] = defaultdict(int)
    for order in index.request.orders:
        for line in order.lines:
            requested[order.priority] += line.quantity
            allocated[order.priority] += ledger.by_line.get((order.id, line.id), 0)
    return [(p, requested[p], allocated[p]) for p in sorted(requested, reverse=True)]


def _solver_violations(
    index: _RequestIndex, solver: _SolverShape, total_cost: float
) -> Iterable[Violation]:
    if solver.status not in STATUSES:
        yield Violation(
            "solver_status_invalid",
            "solver.status",
            f"{solver.status!r}, expected one of: " + ", ".join(sorted(STATUSES)),
        )
    if abs(solver.objective - round(total_cost, 2)) > MONEY_TOLERANCE:
        yield Violation(
            "objective_mismatch",
            "solver.objective",
            f"{solver.objective}, but the allocation costs {round(total_cost, 2)}",
        )
    if solver.bound > solver.objective + MONEY_TOLERANCE:
        yield Violation(
            "bound_above_objective",
            "solver.bound",
            f"a lower bound of {solver.bound} above the objective {solver.objective}",
        )
    # Relative gap, (objective - bound) / objective; both figures are rounded to the cent, so
    # allow what moving each by half a cent does to the ratio.
    scale = max(abs(solver.objective), MONEY_TOLERANCE)
    expected_gap = max(solver.objective - solver.bound, 0.0) / scale
    gap_tolerance = 2 * MONEY_TOLERANCE / scale + GAP_TOLERANCE
    if solver.gap < -GAP_TOLERANCE or abs(solver.gap - expected_gap) > gap_tolerance:
        yield Violation(
            "gap_mismatch",
            "solver.gap",
            f"{solver.gap}, but objective {solver.objective} and bound {solver.bound} "
            f"give {expected_gap:.6f}",
        )
    relative_gap = index.policy.relative_gap
    if solver.status == "optimal" and solver.gap > relative_gap + gap_tolerance:
        yield Violation(
            "gap_mismatch",
            "solver.gap",
            f"status 'optimal' claims a proof within relative_gap {relative_gap}, "
            f"but the gap is {solver.gap}",
        )


# --- public -------------------------------------------------------------------------------------


def check(request: SolveRequest, response: Mapping[str, Any]) -> list[Violation]:
    """Every way ``response`` breaks the contract for ``request``; empty when it is valid.

    ``response`` is the decoded JSON of a solve response. Raises :class:`InvalidInput` (``what``
    is ``"response"``) when its shape is too broken to check: a missing field, a quantity that is
    not an integer, a figure that is not a number.
    """
    shape = _parse_response(response)
    index = _RequestIndex(request)
    ledger, violations = _ledger(index, shape.allocations)
    violations += _allocation_rule_violations(index, ledger)
    cost = _total_cost(index, ledger)
    violations += _shipment_violations(index, ledger, shape.shipments)
    violations += _remaining_violations(index, ledger, shape.remaining)
    violations += _unallocated_violations(index, ledger, shape)
    violations += _summary_violations(index, ledger, shape.summary, cost)
    violations += _solver_violations(index, shape.solver, cost)
    return violations


def assert_valid(request: SolveRequest, response: Mapping[str, Any]) -> None:
    """Raises :class:`ResponseInvalid` listing every violation, or returns."""
    violations = check(request, response)
    if violations:
        raise ResponseInvalid(violations)


def check_allocations(
    request: SolveRequest, allocations: Sequence[Mapping[str, Any]]
) -> list[Violation]:
    """Only the four allocation rules of the contract, for a bare list of allocation rows.

    For allocations that do not come with a whole response: a candidate of an exhaustive
    search, a baseline's output. Raises :class:`InvalidInput` on a row of the wrong shape.
    """
    index = _RequestIndex(request)
    ledger, violations = _ledger(index, _parse_allocations(allocations))
    return violations + _allocation_rule_violations(index, ledger)


def fill_by_priority(request: SolveRequest, response: Mapping[str, Any]) -> dict[int, int]:
    """Units allocated per priority (every priority of the request, 0 when nothing was filled)."""
    index = _RequestIndex(request)
    ledger, _ = _ledger(index, _parse_allocations(response.get("allocations")))
    return {priority: allocated for priority, _, allocated in _fill_rows(index, ledger)}


def total_cost(request: SolveRequest, response: Mapping[str, Any]) -> float:
    """The response's allocations' total cost, recomputed and unrounded."""
    index = _RequestIndex(request)
    ledger, _ = _ledger(index, _parse_allocations(response.get("allocations")))
    return _total_cost(index, ledger)
