"""The rules of the inventory contract: how each event and each full feed changes a position, the
order in which they apply, safety stock and available to promise. Pure functions over plain values
and numpy arrays; :mod:`storage` reads and writes, these decide.

Times are integer microseconds since the epoch, UTC (see :func:`models.inventory.to_us`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

# Stands for "no setting" in integer arrays of safety stock (settings are >= 0).
UNSET = -1

# The contract bounds every quantity at 10^9. The ledger keeps each position's on_hand, reserved
# and held within the same bound (on_hand also down to -10^9: a sale may take it negative): an
# event or feed row that would take a position past it is bad input, refused with its batch,
# never wrapped or clipped. Sums over positions (ten million of them, the online availability
# of a sku) then stay far inside int64.
QUANTITY_LIMIT = 1_000_000_000

# A feed ``as_of`` or event ``occurred_at`` more than this far ahead of the ledger's clock is bad
# input (a mistyped year would otherwise silence every real event after it).
FUTURE_TOLERANCE_US = 24 * 3600 * 1_000_000


def too_far_ahead(moment_us: np.ndarray | int, clock_us: int) -> np.ndarray | bool:
    """True where a time lies more than :data:`FUTURE_TOLERANCE_US` after ``clock_us``."""
    return np.asarray(moment_us) > clock_us + FUTURE_TOLERANCE_US


def beyond_limits(
    on_hand: np.ndarray | int, reserved: np.ndarray | int = 0, held: np.ndarray | int = 0
) -> np.ndarray:
    """True where a position's values leave the ledger's bounds (see :data:`QUANTITY_LIMIT`)."""
    on_hand, reserved, held = np.asarray(on_hand), np.asarray(reserved), np.asarray(held)
    return (
        (np.abs(on_hand) > QUANTITY_LIMIT)
        | (np.abs(reserved) > QUANTITY_LIMIT)
        | (np.abs(held) > QUANTITY_LIMIT)
    )


class Outcome(StrEnum):
    """What an event did to its position (recorded with the event, counted in batch results)."""

    APPLIED = "applied"
    HELD = "held"  # a store receipt or return, waiting for approval
    RECORDED_UNTIL_FEED = "recorded_until_next_feed"  # a warehouse receipt: the next feed counts it
    BEFORE_FEED = "ignored_before_feed"  # at or before the last feed's as_of: the feed counts it
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Position:
    on_hand: int = 0
    reserved: int = 0
    held: int = 0
    counted_at_us: int | None = None  # the last cycle count: deltas before it are in the count


@dataclass(frozen=True, slots=True)
class LocationRules:
    """What the ledger needs to know of a location to apply an event there."""

    kind: str  # warehouse or store
    receipts_count_at_once: bool = False
    returns_auto_approved: bool = False
    feed_as_of_us: int | None = None
    feed_basis: str | None = None  # physical or available


@dataclass(frozen=True, slots=True)
class Effect:
    """The change an event makes: ``on_hand`` set (a count) or moved, ``reserved`` and ``held``
    moved, and the time of a cycle count (a reset for the deltas that arrive after it)."""

    outcome: Outcome
    on_hand_delta: int = 0
    on_hand_set: int | None = None
    reserved_delta: int = 0
    held_delta: int = 0
    counted_at_us: int | None = None


def watermark_us(location: LocationRules, position: Position) -> int | None:
    """The moment up to which the position's stock is already known from a reset (the last full
    feed covering it, or a later cycle count): deltas at or before it are counted there."""
    feed, count = location.feed_as_of_us, position.counted_at_us
    if count is None:
        return feed
    return count if feed is None or count > feed else feed


def counted_by_reset(occurred_us: int, location: LocationRules, position: Position) -> bool:
    """True when a delta occurred at or before the watermark: ignore it, the reset counts it."""
    mark = watermark_us(location, position)
    return mark is not None and occurred_us <= mark


def sale(quantity: int, occurred_us: int, location: LocationRules, position: Position) -> Effect:
    if counted_by_reset(occurred_us, location, position):
        return Effect(Outcome.BEFORE_FEED)
    return Effect(Outcome.APPLIED, on_hand_delta=-quantity)


TAKE_AWAY_REASONS = frozenset({"lost", "damaged", "defective"})


def variance(
    quantity: int,
    reason: str,
    occurred_us: int,
    location: LocationRules,
    position: Position,
    later_on_hand: int = 0,
) -> Effect:
    """``later_on_hand``, for a count: what the deltas applied so far that occurred after the
    count did to ``on_hand`` (they apply on top of it)."""
    if counted_by_reset(occurred_us, location, position):
        return Effect(Outcome.BEFORE_FEED)
    if reason == "count":
        # A cycle count is a full feed of one position as of its occurred_at: deltas that
        # occurred before it are in it, deltas after it (arrived already or later) go on top.
        return Effect(
            Outcome.APPLIED, on_hand_set=quantity + later_on_hand, counted_at_us=occurred_us
        )
    if reason in TAKE_AWAY_REASONS:
        return Effect(Outcome.APPLIED, on_hand_delta=-quantity)
    if reason == "found":
        return Effect(Outcome.APPLIED, on_hand_delta=quantity)
    raise ValueError(f"unknown variance reason {reason!r}")


def receipt(
    quantity: int, occurred_us: int, location: LocationRules, position: Position, *, is_return: bool
) -> Effect:
    """A receipt (or a return, ``is_return``): held at a store until approved, recorded at a
    warehouse until the next feed counts it; counted at once where the location says so."""
    at_once = location.returns_auto_approved if is_return else location.receipts_count_at_once
    if at_once:
        if counted_by_reset(occurred_us, location, position):
            return Effect(Outcome.BEFORE_FEED)
        return Effect(Outcome.APPLIED, on_hand_delta=quantity)
    if location.kind == "store":
        return Effect(Outcome.HELD, held_delta=quantity)
    return Effect(Outcome.RECORDED_UNTIL_FEED)


def approve(
    held_quantity: int, occurred_us: int, location: LocationRules, position: Position
) -> Effect:
    """The held units leave ``held``; they join ``on_hand`` unless a feed taken after the approval
    counts them already."""
    if counted_by_reset(occurred_us, location, position):
        return Effect(Outcome.BEFORE_FEED, held_delta=-held_quantity)
    return Effect(Outcome.APPLIED, held_delta=-held_quantity, on_hand_delta=held_quantity)


def shipped(
    quantity: int, open_reserved: int, occurred_us: int, location: LocationRules, position: Position
) -> Effect:
    """The line's reservation is settled (never below zero) and the units leave ``on_hand``.

    A shipment that occurred before the last feed is in a ``physical`` feed's count already; an
    ``available`` feed, though, set ``on_hand = quantity + reserved`` with this reservation still
    open, so the units must leave ``on_hand`` with the reservation or they would be promised again.
    """
    settled = min(quantity, max(open_reserved, 0))
    if counted_by_reset(occurred_us, location, position) and location.feed_basis != "available":
        return Effect(Outcome.BEFORE_FEED, reserved_delta=-settled)
    return Effect(Outcome.APPLIED, reserved_delta=-settled, on_hand_delta=-quantity)


def rejected(
    quantity: int,
    open_reserved: int,
    not_found: bool,
    occurred_us: int,
    location: LocationRules,
    position: Position,
) -> Effect:
    """The reservation is released; with ``not_found`` the units were never there: a variance."""
    released = min(quantity, max(open_reserved, 0))
    if not_found and not counted_by_reset(occurred_us, location, position):
        return Effect(Outcome.APPLIED, reserved_delta=-released, on_hand_delta=-quantity)
    return Effect(Outcome.APPLIED, reserved_delta=-released)


def apply_effect(position: Position, effect: Effect) -> Position:
    """The position after the effect."""
    on_hand = effect.on_hand_set if effect.on_hand_set is not None else position.on_hand
    return Position(
        on_hand + effect.on_hand_delta,
        position.reserved + effect.reserved_delta,
        position.held + effect.held_delta,
        effect.counted_at_us if effect.counted_at_us is not None else position.counted_at_us,
    )


# --- full feeds -------------------------------------------------------------------------------


def feed_is_stale(as_of_us: int, last_as_of_us: int | None) -> bool:
    """A feed older than the last one applied to a location is refused for that location. The
    same ``as_of`` again is a re-delivery and applies (a reset to the same values)."""
    return last_as_of_us is not None and as_of_us < last_as_of_us


def on_hand_from_feed(basis: str, quantity: np.ndarray | int, reserved: np.ndarray | int):
    """``physical``: the quantity is the stock on hand, open reservations stay deducted from it.
    ``available``: the sender already deducted the orders it knows, so ``on_hand`` is put back to
    ``quantity + reserved`` and the ATP does not deduct the reservations twice."""
    if basis == "physical":
        return quantity
    if basis == "available":
        return quantity + reserved
    raise ValueError(f"unknown feed basis {basis!r}")


def feed_reserved_factor(basis: str) -> int:
    """``on_hand = quantity + factor * reserved``: the feed rule as a number SQL can use."""
    return 1 if basis == "available" else 0


# --- safety stock and available to promise ----------------------------------------------------


def resolve_safety_stock(
    per_position: np.ndarray | int,
    per_sku: np.ndarray | int,
    per_location: np.ndarray | int,
    per_kind: np.ndarray | int,
) -> np.ndarray:
    """The most specific setting wins: (location, sku), then sku, then location, then location
    kind, else 0. Arrays are aligned per position (or are scalars); :data:`UNSET` marks no
    setting.

    A sku's setting outranks a location's: it is the narrower rule in a network where a location
    carries thousands of skus, and it is how merchandisers protect fragile or display stock."""
    resolved = np.where(np.asarray(per_kind) != UNSET, per_kind, 0)
    # Levels with no setting at all are skipped: most networks set one or two of the four.
    for level in (per_location, per_sku, per_position):
        level = np.asarray(level)
        is_set = level != UNSET
        if is_set.any():
            resolved = np.where(is_set, level, resolved)
    return np.broadcast_to(
        resolved,
        np.broadcast_shapes(
            *(np.shape(a) for a in (per_position, per_sku, per_location, per_kind))
        ),
    ).astype(np.int64)


def available_to_promise(
    on_hand: np.ndarray, reserved: np.ndarray, safety_stock: np.ndarray
) -> np.ndarray:
    """``atp = max(0, on_hand - reserved - safety_stock)``."""
    return np.maximum(0, on_hand - reserved - safety_stock)


def atp_of(position: Position, safety_stock: int) -> int:
    return max(0, position.on_hand - position.reserved - safety_stock)


# --- many events at once ----------------------------------------------------------------------

# Kind codes of the events the vectorised path applies (stock moves with no hold or reservation
# to look up); approvals, shipments and rejections go event by event.
SALE, TAKE_AWAY, FOUND, COUNT, RECEIPT, RETURN = range(6)
KIND_CODE = {"sale": SALE, "receipt": RECEIPT, "return": RETURN}
REASON_CODE = {
    "lost": TAKE_AWAY,
    "damaged": TAKE_AWAY,
    "defective": TAKE_AWAY,
    "found": FOUND,
    "count": COUNT,
}
OUTCOME_NAMES = np.array([o.value for o in Outcome], dtype=object)
OUTCOME_INDEX = {o: i for i, o in enumerate(Outcome)}


@dataclass(frozen=True, slots=True)
class VectorResult:
    """Per event (in the order given): the outcome's index in :class:`Outcome`, and the position
    after it; per position: the final values."""

    outcome: np.ndarray
    on_hand_after: np.ndarray
    held_after: np.ndarray
    on_hand: np.ndarray
    held: np.ndarray
    counted_at_us: np.ndarray  # -1: never counted


def apply_stock_events(
    position: np.ndarray,
    occurred_us: np.ndarray,
    code: np.ndarray,
    quantity: np.ndarray,
    on_hand0: np.ndarray,
    held0: np.ndarray,
    counted_at0: np.ndarray,
    feed_as_of: np.ndarray,
    store: np.ndarray,
    receipts_at_once: np.ndarray,
    returns_at_once: np.ndarray,
    later_on_hand: np.ndarray | None = None,
) -> VectorResult:
    """Sales, variances, receipts and returns applied by the same rules as :func:`sale`,
    :func:`variance` and :func:`receipt`, for many positions at once.

    Events must be sorted by (``position``, ``occurred_us``), ties in batch order; ``position``
    indexes the per-position arrays (``on_hand0``, ``held0``, ``counted_at0``, -1 for never, and
    the position's location's ``feed_as_of`` (-1 for never), ``store``, ``receipts_at_once``,
    ``returns_at_once``). Per-event and per-position results come back as arrays.
    ``later_on_hand`` (per event, used at counts): what the deltas the ledger applied before this
    batch that occurred after the event did to ``on_hand``; a count goes under them.
    """
    n = position.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return VectorResult(empty, empty, empty, on_hand0.copy(), held0.copy(), counted_at0.copy())
    index = np.arange(n)
    group_start = np.ones(n, dtype=bool)
    group_start[1:] = position[1:] != position[:-1]
    first_of_group = np.maximum.accumulate(np.where(group_start, index, 0))
    # The reset every delta is measured against: the later of the feed and the last count.
    initial_mark = np.maximum(feed_as_of[position], counted_at0[position])
    # A count applies if it is newer than the reset before the batch; of counts at the same
    # moment at one position, the first (it already counted what the others would).
    count_candidate = (code == COUNT) & (occurred_us > initial_mark)
    # An equal-time earlier count need not be adjacent (other events may sit between): carry
    # the time of the last applied count forward and compare.
    applied_count = count_candidate.copy()
    last_count = np.maximum.accumulate(np.where(count_candidate, index, -1))
    previous_count = np.full(n, -1)
    previous_count[1:] = last_count[:-1]
    previous_in_group = (previous_count >= first_of_group) & (previous_count >= 0)
    applied_count &= ~(
        previous_in_group & (occurred_us[np.maximum(previous_count, 0)] == occurred_us)
    )
    last_applied = np.maximum.accumulate(np.where(applied_count, index, -1))
    has_last = last_applied >= first_of_group
    mark = np.where(
        has_last, np.maximum(initial_mark, occurred_us[np.maximum(last_applied, 0)]), initial_mark
    )
    after_mark = occurred_us > mark

    is_receipt = code == RECEIPT
    is_return = code == RETURN
    at_once = (is_receipt & receipts_at_once[position]) | (is_return & returns_at_once[position])
    held_here = (is_receipt | is_return) & ~at_once & store[position]
    recorded = (is_receipt | is_return) & ~at_once & ~store[position]
    sign = np.select([code == SALE, code == TAKE_AWAY, code == FOUND, at_once], [-1, -1, 1, 1], 0)
    moves = sign != 0
    delta = np.where(moves & after_mark, sign * quantity, 0)
    held_delta = np.where(held_here, quantity, 0)

    outcome = np.full(n, OUTCOME_INDEX[Outcome.APPLIED])
    outcome[(moves | (code == COUNT)) & ~after_mark & ~applied_count] = OUTCOME_INDEX[
        Outcome.BEFORE_FEED
    ]
    outcome[(code == COUNT) & ~applied_count] = OUTCOME_INDEX[Outcome.BEFORE_FEED]
    outcome[held_here] = OUTCOME_INDEX[Outcome.HELD]
    outcome[recorded] = OUTCOME_INDEX[Outcome.RECORDED_UNTIL_FEED]

    # on_hand after each event: segments begin at a position's first event and at each applied
    # count; a segment's base is the position's on_hand (or the count), plus its deltas so far.
    segment_start = group_start | applied_count
    segment = np.cumsum(segment_start) - 1
    starts = np.flatnonzero(segment_start)
    count_base = quantity[starts] + (0 if later_on_hand is None else later_on_hand[starts])
    base = np.where(applied_count[starts], count_base, on_hand0[position[starts]])
    running = np.cumsum(delta)
    offset = running[starts] - delta[starts]
    on_hand_after = base[segment] + running - offset[segment]
    held_running = np.cumsum(held_delta)
    held_offset = held_running[first_of_group] - held_delta[first_of_group]
    held_after = held0[position] + held_running - held_offset

    on_hand = on_hand0.copy()
    held = held0.copy()
    counted = counted_at0.copy()
    last = np.flatnonzero(np.append(position[1:] != position[:-1], True))
    on_hand[position[last]] = on_hand_after[last]
    held[position[last]] = held_after[last]
    count_time = np.where(applied_count, occurred_us, -1)
    np.maximum.at(counted, position, count_time)
    return VectorResult(outcome, on_hand_after, held_after, on_hand, held, counted)
