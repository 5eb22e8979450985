"""Wire schemas of the solve contract (``shared/contract/solve.md``): request and response.

Field names, defaults and meanings are the contract's; extensions are marked as such. Numbers are
strict: a quantity is a JSON integer (``2``, not ``2.0`` or ``"2"``) and a coordinate a JSON number.
Fields the contract does not know are ignored, as the contract allows senders to add their own.

Cross-reference rules (unknown or duplicate ids, a pickup order at a location that does not serve
pickup, ...) live beside the schema in :mod:`models.validation`, which is the one way in.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool

from models.problems import NO_NUL_PATTERN

# --- field types ------------------------------------------------------------------------------

# The contract's limits ("Limits" in shared/contract/solve.md): no figure the engine adds up may
# overflow int64 or lose a float's precision, so every quantity, capacity, cost and distance has a
# ceiling. A value beyond it is refused, never wrapped, clipped or answered with a null.
MAX_ID_LENGTH = 200
MAX_QUANTITY = 1_000_000_000
MAX_MONEY = 1_000_000.0
MAX_COST_PER_KM = 1_000.0
MAX_DISTANCE_KM = 20_040.0  # half the Earth's circumference: no two points are farther apart
MAX_TIME_LIMIT_S = 3_600.0


# An id is stored in the ledger, and PostgreSQL cannot store a NUL in text: refused at the edge.
Id = Annotated[str, Strict(), Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL_PATTERN)]
Sku = Id
Latitude = Annotated[float, Strict(), Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Longitude = Annotated[float, Strict(), Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Money = Annotated[float, Strict(), Field(ge=0.0, le=MAX_MONEY, allow_inf_nan=False)]
CostPerKm = Annotated[float, Strict(), Field(ge=0.0, le=MAX_COST_PER_KM, allow_inf_nan=False)]
Kilometres = Annotated[float, Strict(), Field(ge=0.0, le=MAX_DISTANCE_KM, allow_inf_nan=False)]
StockQuantity = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]
LineQuantity = Annotated[int, Strict(), Field(ge=1, le=MAX_QUANTITY)]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]
Priority = Annotated[int, Strict(), Field(ge=-1_000_000, le=1_000_000)]

LocationKind = Literal["warehouse", "store"]
Delivery = Literal["ship", "pickup"]
Strategy = Literal["optimal", "greedy"]


class _Wire(BaseModel):
    # Unknown fields are ignored (the contract lets senders add their own); objects are immutable
    # once validated, so the engine can trust them without copying.
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- request ----------------------------------------------------------------------------------


class Location(_Wire):
    """A place stock is promised from: a warehouse or a store."""

    id: Id
    kind: LocationKind
    lat: Latitude
    lon: Longitude
    ships: StrictBool = True
    pickup: StrictBool | None = Field(
        default=None, description="Default: true for stores, false for warehouses."
    )
    max_shipments: Count | None = Field(default=None, description="null = unlimited")
    max_units: Count | None = Field(default=None, description="null = unlimited")
    shipment_cost: Money | None = Field(
        default=None, description="null = the policy's cost for its kind"
    )
    unit_cost: Money = 0.0

    @property
    def serves_pickup(self) -> bool:
        """``pickup`` with the contract's default by kind resolved."""
        return self.pickup if self.pickup is not None else self.kind == "store"


class InventoryRow(_Wire):
    """Available-to-promise units of one sku at one location."""

    location_id: Id
    sku: Sku
    quantity: StockQuantity


class Point(_Wire):
    lat: Latitude
    lon: Longitude


class Line(_Wire):
    id: Id
    sku: Sku
    quantity: LineQuantity


class Order(_Wire):
    id: Id
    priority: Priority = 0
    placed_at: datetime | None = None
    delivery: Delivery
    ship_to: Point | None = None
    pickup_location_id: Id | None = None
    allow_split: StrictBool = True
    allow_partial: StrictBool = True
    max_distance_km: Kilometres | None = None
    exclude_location_ids: list[Id] = Field(
        default_factory=list,
        description="Locations that must not serve this order (such as a store that rejected it).",
    )
    lines: list[Line] = Field(min_length=1)


class ShipmentCostByKind(_Wire):
    warehouse: Money = 8.0
    store: Money = 10.0


class Policy(_Wire):
    shipment_cost: ShipmentCostByKind = ShipmentCostByKind()
    cost_per_km: CostPerKm = 0.002
    max_distance_km: Kilometres | None = None
    time_limit_s: Annotated[
        float, Strict(), Field(gt=0.0, le=MAX_TIME_LIMIT_S, allow_inf_nan=False)
    ] = 10.0
    relative_gap: Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.001
    # Extension: the rule-based baseline of commercial OMSs instead of the optimiser.
    strategy: Strategy = Field(
        default="optimal",
        description="Extension. 'optimal' (default): the lexicographic optimum of the contract. "
        "'greedy': sequential routing rules (priority, then oldest; nearest complete location, "
        "else line by line from the nearest), the baseline the optimiser is measured against.",
    )


class SolveRequest(_Wire):
    """A batch of orders and an availability snapshot."""

    locations: list[Location]
    inventory: list[InventoryRow]
    orders: list[Order]
    policy: Policy = Policy()


# --- response ---------------------------------------------------------------------------------


class UnallocatedReason(StrEnum):
    """Why a line misses units. The closed list, in the order it is decided: the first that
    applies is given.

    ``no_eligible_location``: no location that may serve the order holds the sku, but others
    do (they do not ship, are beyond its max distance, or are not its pickup location).
    ``out_of_stock``: the locations that may serve the order hold fewer units of the sku than
    the line asks for, whatever the other orders took (includes: no location holds the sku).
    ``outranked``: units that could have served the line went to higher-priority orders.
    ``allocated_to_other_orders``: units that could have served the line went to orders of the
    same or lower priority, because the fill per priority could not be raised otherwise or the
    other allocation cost less.
    ``capacity``: eligible locations still hold the sku but reached ``max_shipments`` or
    ``max_units``.
    ``cannot_split``: ``allow_split`` is false and no single location could serve it.
    ``all_or_nothing``: ``allow_partial`` is false and another line of the order could not be
    filled complete, so the order got nothing.
    ``time_limit``: the solver stopped at its time limit before proving more could not be filled.
    """

    OUT_OF_STOCK = "out_of_stock"
    NO_ELIGIBLE_LOCATION = "no_eligible_location"
    OUTRANKED = "outranked"
    ALLOCATED_TO_OTHER_ORDERS = "allocated_to_other_orders"
    CAPACITY = "capacity"
    CANNOT_SPLIT = "cannot_split"
    ALL_OR_NOTHING = "all_or_nothing"
    TIME_LIMIT = "time_limit"


class SolverStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"


class Allocation(BaseModel):
    order_id: str
    line_id: str
    location_id: str
    quantity: int


class Unallocated(BaseModel):
    order_id: str
    line_id: str
    quantity: int
    reason: UnallocatedReason


class Remaining(BaseModel):
    location_id: str
    sku: str
    quantity: int


class Shipment(BaseModel):
    order_id: str
    location_id: str
    distance_km: float
    cost: float


class PriorityFill(BaseModel):
    """Extension: units requested and allocated for one priority."""

    priority: int
    units_requested: int
    units_allocated: int


class Summary(BaseModel):
    orders: int
    orders_fully_allocated: int
    units_requested: int
    units_allocated: int
    shipments: int
    split_orders: int
    total_cost: float
    by_priority: list[PriorityFill] = Field(
        default_factory=list, description="Extension: fill per priority, highest first."
    )


class SolverReport(BaseModel):
    name: str
    status: SolverStatus
    objective: float
    bound: float
    gap: float
    seconds: float
    strategy: Strategy = Field(default="optimal", description="Extension: the strategy used.")


class SolveResponse(BaseModel):
    allocations: list[Allocation]
    unallocated: list[Unallocated]
    remaining: list[Remaining]
    shipments: list[Shipment]
    summary: Summary
    solver: SolverReport
