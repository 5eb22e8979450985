"""Wire schemas of the inventory contract (``shared/contract/inventory.md``): events, feeds, the
catalog, positions, snapshots, the outbound availability feed, queued orders and brokering runs.

The readers that turn bytes into validated rows live apart: :mod:`models.event_reader` (event
batches) and :mod:`models.feed_reader` (CSV and JSON feeds). Their fast paths read every limit
they check from the types declared here (:func:`declared`), so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from models.problems import (
    NO_NUL_PATTERN,
    InvalidInput,
    Problem,
    problems_from_validation_error,
    sort_problems,
    unique_problems,
)
from models.solve import MAX_QUANTITY, Id, Latitude, Longitude, Money, Order, Policy, Sku
from models.validation import order_problems

# The contract's limits (shared/contract/inventory.md "Events"): an event moves 1 to 1e9 units (a
# cycle count may say 0), a feed row holds 0 to 1e9, so no position's sum can overflow int64.
# The readers' fast paths read these bounds with :func:`declared`; tests/test_limits.py holds the
# fast paths and the schema to agreement on every edge.
EventQuantity = Annotated[int, Strict(), Field(ge=1, le=MAX_QUANTITY)]
CountQuantity = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]
FeedQuantity = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]
Setting = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]

FeedSource = Literal["erp", "sim", "wms"]
FeedBasis = Literal["physical", "available"]
VarianceReason = Literal["lost", "damaged", "defective", "found", "count"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def to_us(moment: datetime) -> int:
    """A zone-aware time as integer microseconds since the epoch (the ledger's clock)."""
    # A float timestamp resolves ~0.25 us at today's epoch seconds: rounding gives the exact us.
    return round(moment.timestamp() * 1_000_000)


def from_us(moment_us: int | None) -> datetime | None:
    if moment_us is None:
        return None
    return datetime.fromtimestamp(moment_us / 1_000_000, tz=UTC)


def declared(annotated: Any, constraint: str) -> Any:
    """The value of ``constraint`` (``ge``, ``le``, ``min_length``, ``max_length``, ``pattern``)
    as declared on an ``Annotated`` type such as :data:`EventQuantity` or ``Id``. Raises
    ``LookupError`` when the type declares no such constraint."""
    for meta in get_args(annotated)[1:]:
        for item in [meta, *getattr(meta, "metadata", [])]:
            value = getattr(item, constraint, None)
            if value is not None:
                return value
    raise LookupError(f"{annotated} declares no {constraint}")


def quantity_range(quantity: Any) -> tuple[int, int]:
    """The least and the greatest value a quantity type such as :data:`EventQuantity` allows."""
    return declared(quantity, "ge"), declared(quantity, "le")


def id_length_range(id_type: Any) -> tuple[int, int]:
    """The shortest and the longest an id type (``Id``, ``Sku``) may be, for a reader that tests
    ids with plain comparisons and a NUL test. Raises ``RuntimeError`` if the type declares a
    pattern other than "no NUL": that test would then no longer be the schema's."""
    if declared(id_type, "pattern") != NO_NUL_PATTERN:
        raise RuntimeError(f"{id_type} has a new pattern: the fast readers must test it too")
    return declared(id_type, "min_length"), declared(id_type, "max_length")


# --- events -----------------------------------------------------------------------------------


class _Event(_Wire):
    id: Id
    location_id: Id
    occurred_at: AwareDatetime


class _StockEvent(_Event):
    sku: Sku
    quantity: EventQuantity


class SaleEvent(_StockEvent):
    """POS: units sold over the counter."""

    kind: Literal["sale"]


class VarianceEvent(_Event):
    """POS, SIM: stock found wrong. ``count`` is a cycle count: ``on_hand`` becomes ``quantity``
    (0 is a valid count; every other reason moves at least one unit)."""

    kind: Literal["variance"]
    sku: Sku
    reason: VarianceReason
    quantity: CountQuantity  # after reason: its check reads the reason

    @field_validator("quantity")
    @classmethod
    def _only_a_count_may_be_zero(cls, quantity: int, info: ValidationInfo) -> int:
        if quantity == 0 and info.data.get("reason") != "count":
            raise PydanticCustomError(
                "greater_than_equal",
                "Input should be greater than or equal to 1 (only a count may be 0)",
                {"ge": 1},
            )
        return quantity


class ReceiptEvent(_StockEvent):
    """Goods received: held at a store until approved; at a warehouse counted by the next feed."""

    kind: Literal["receipt"]


class ReturnEvent(_StockEvent):
    """A customer return: as a receipt, unless the location approves returns automatically."""

    kind: Literal["return"]


class ApproveEvent(_Event):
    """Releases the held units of the receipt or return whose event id is ``held_id``."""

    kind: Literal["approve"]
    held_id: Id


class ShippedEvent(_StockEvent):
    """A brokered order line left the location."""

    kind: Literal["shipped"]
    order_id: Id
    line_id: Id


class RejectedEvent(_StockEvent):
    """The location cannot fulfil the brokered line; ``not_found``: the units are not there."""

    kind: Literal["rejected"]
    order_id: Id
    line_id: Id
    not_found: StrictBool = False


Event = Annotated[
    SaleEvent
    | VarianceEvent
    | ReceiptEvent
    | ReturnEvent
    | ApproveEvent
    | ShippedEvent
    | RejectedEvent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _kind_of(model: type[_Event]) -> str:
    (kind,) = get_args(model.model_fields["kind"].annotation)
    return str(kind)


EVENT_KINDS = tuple(_kind_of(model) for model in get_args(get_args(Event)[0]))
# The moves of stock the ledger applies in bulk (as columns); the other kinds one by one.
StockMove = SaleEvent | VarianceEvent | ReceiptEvent | ReturnEvent
STOCK_MOVES: dict[str, type[StockMove]] = {
    _kind_of(model): model for model in (SaleEvent, VarianceEvent, ReceiptEvent, ReturnEvent)
}
STOCK_KINDS = frozenset(STOCK_MOVES)
VARIANCE_REASONS = frozenset(get_args(VarianceReason))


# --- full feeds -------------------------------------------------------------------------------


class FeedHeader(_Wire):
    """What a full feed is: who sent it, what its quantities mean, and as of when."""

    source: FeedSource
    basis: FeedBasis
    as_of: AwareDatetime


class FeedRow(_Wire):
    location_id: Id
    sku: Sku
    quantity: FeedQuantity


FEED_ROW_ADAPTER: TypeAdapter[FeedRow] = TypeAdapter(FeedRow)
FEED_COLUMNS = ("location_id", "sku", "quantity")


def parse_feed_header(raw: Mapping[str, Any]) -> FeedHeader:
    """Raises :class:`InvalidInput` naming each bad header field."""
    try:
        return FeedHeader.model_validate(dict(raw))
    except ValidationError as exc:
        raise InvalidInput(problems_from_validation_error(exc), what="feed") from None


# --- the catalog: locations, skus and the settings of the ledger ------------------------------


class LocationSetting(_Wire):
    """A location of the solve contract plus the ledger's settings for it."""

    id: Id
    kind: Literal["warehouse", "store"]
    lat: Latitude
    lon: Longitude
    ships: StrictBool = True
    pickup: StrictBool | None = None
    max_shipments: Setting | None = None
    max_units: Setting | None = None
    shipment_cost: Money | None = None
    unit_cost: Money = 0.0
    safety_stock: Setting | None = Field(default=None, description="For every sku here.")
    receipts_count_at_once: StrictBool = Field(
        default=False, description="Receipts add to on_hand at once instead of being held/fed."
    )
    returns_auto_approved: StrictBool = Field(default=False, description="Returns are not held.")
    active: StrictBool = True


class SkuSetting(_Wire):
    sku: Sku
    category: Id | None = None
    safety_stock: Setting | None = None
    online_threshold: Setting | None = None


class CategorySetting(_Wire):
    category: Id
    online_threshold: Setting


class PositionSafetyStock(_Wire):
    location_id: Id
    sku: Sku
    safety_stock: Setting | None


class Catalog(_Wire):
    """Locations, skus and the settings of safety stock and online thresholds. Each list replaces
    or adds the entries it names (an upsert); entries it does not name are kept."""

    locations: list[LocationSetting] = Field(default_factory=list)
    skus: list[SkuSetting] = Field(default_factory=list)
    categories: list[CategorySetting] = Field(default_factory=list)
    safety_stock_by_kind: dict[Literal["warehouse", "store"], Setting] = Field(default_factory=dict)
    position_safety_stock: list[PositionSafetyStock] = Field(default_factory=list)


def parse_catalog(raw: Any) -> Catalog:
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(problems_from_validation_error(exc), what="catalog") from None
    problems = []
    seen: dict[str, int] = {}
    for index, location in enumerate(catalog.locations):
        if location.id in seen:
            problems.append(
                Problem(
                    ("locations", index, "id"),
                    f"duplicate location id {location.id!r}",
                    "duplicate_id",
                )
            )
        seen[location.id] = index
    if problems:
        raise InvalidInput(problems, what="catalog")
    return catalog


# --- positions, snapshots, availability -------------------------------------------------------


class PositionOut(BaseModel):
    location_id: str
    sku: str
    on_hand: int
    reserved: int
    held: int
    safety_stock: int
    atp: int
    version: int


class PositionChange(BaseModel):
    """One entry of a position's history: what it became, why, and as of which ledger version."""

    version: int
    cause: str
    ref: str | None
    at: datetime | None
    on_hand: int
    reserved: int
    held: int
    note: str | None = None


class PositionHistory(BaseModel):
    location_id: str
    sku: str
    changes: list[PositionChange]


class SnapshotRow(BaseModel):
    location_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    atp: int


class SnapshotOut(BaseModel):
    version: int
    taken_at: datetime
    positions: int
    rows: list[SnapshotRow]


class OnlineAvailability(BaseModel):
    sku: str
    quantity: int


class PickupAvailability(BaseModel):
    location_id: str
    sku: str
    quantity: int


class AvailabilityFeed(BaseModel):
    """The outbound feed. ``mode`` ``full``: every row (a hard reset); ``changes``: the rows that
    changed after ``since``. Pass ``cursor`` as ``since`` next time."""

    mode: Literal["full", "changes"]
    since: int | None
    cursor: int
    online: list[OnlineAvailability]
    pickup: list[PickupAvailability]


# --- orders and brokering runs ----------------------------------------------------------------

ORDER_ADAPTER: TypeAdapter[Order] = TypeAdapter(Order)


def parse_orders(raw: Any, known_locations: Mapping[str, bool]) -> list[Order]:
    """One order or ``{"orders": [...]}``, validated against the solve contract's order schema.
    ``known_locations`` maps location ids to whether they serve pickup. Raises
    :class:`InvalidInput` with every problem of every order: the schema's and the cross-reference
    rules' (duplicate ids, what a delivery needs, unknown locations) together."""
    batch = isinstance(raw, dict) and "orders" in raw
    items = raw["orders"] if batch else [raw]
    if not isinstance(items, list):
        raise InvalidInput(
            [Problem(("orders",), "expected a list of orders", "list_type")], what="orders"
        )
    problems: list[Problem] = []
    orders: list[Order] = []
    for index, item in enumerate(items):
        try:
            orders.append(ORDER_ADAPTER.validate_python(item))
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc, prefix=("orders", index)))
    problems.extend(order_problems({"orders": items}, dict(known_locations)))
    if problems:
        # A single order is reported at its own fields, not under orders.0.
        if not batch:
            problems = [Problem(p.loc[2:], p.msg, p.type) for p in problems]
        raise InvalidInput(sort_problems(unique_problems(problems)), what="orders")
    return orders


class OrderSubmission(BaseModel):
    accepted: list[str]
    duplicates: list[str]


class QueuedLine(BaseModel):
    line_id: str
    sku: str
    quantity: int
    allocated: int


class OrderStatus(BaseModel):
    id: str
    status: Literal["queued", "brokered"]
    priority: int
    lines: list[QueuedLine]
    excluded_location_ids: list[str]


class BrokeringRunOut(BaseModel):
    """A brokering run: its ledger versions and its result in the solve response's shape."""

    id: int
    snapshot_version: int
    version: int
    started_at: datetime
    finished_at: datetime
    orders: int
    result: dict[str, Any]


# --- bodies of the writes (their schemas are what the API documents) --------------------------


class FeedDocument(FeedHeader):
    """A full feed as one JSON document (read as a stream, never whole)."""

    rows: list[FeedRow]


class EventBatchDocument(_Wire):
    """A batch of events; a bare JSON array of events and JSON lines are accepted too."""

    events: list[Event]


class OrderBatch(_Wire):
    """Orders to queue; a single order object is accepted too."""

    orders: list[Order]


NoNul = Field(pattern=NO_NUL_PATTERN)


class InboxFeed(_Wire):
    """A feed file in the feed inbox; a CSV file needs ``source``, ``basis`` and ``as_of``."""

    file: Annotated[str, Strict(), Field(min_length=1, max_length=255), NoNul]
    source: FeedSource | None = None
    basis: FeedBasis | None = None
    as_of: AwareDatetime | None = None


class BrokeringRunRequest(_Wire):
    """A brokering run's options: the solve contract's policy (its time limit defaults to the
    service's ``OMNIBROKER_RUN_TIME_LIMIT_S``)."""

    policy: Policy | None = None

    def policy_overrides(self) -> dict[str, Any]:
        """Only the policy fields the caller set (the rest keep the run's defaults)."""
        return self.policy.model_dump(exclude_unset=True) if self.policy is not None else {}


class MorningRunRequest(BrokeringRunRequest):
    feeds: list[InboxFeed] = Field(default_factory=list)


# --- results of writes ------------------------------------------------------------------------


class CatalogResult(BaseModel):
    version: int
    locations: int
    skus: int


class PublicationResult(BaseModel):
    cursor: int
    version: int
    rows_changed: int
    seconds: float


class FeedResult(BaseModel):
    feed_id: int
    version: int
    source: FeedSource
    basis: FeedBasis
    as_of: datetime
    rows: int
    locations: int
    refused_locations: list[str] = Field(description="Locations whose last feed is newer.")
    seconds: float


class EventBatchResult(BaseModel):
    version: int | None
    applied: int
    duplicates: list[str]
    outcomes: dict[str, int]
    seconds: float
