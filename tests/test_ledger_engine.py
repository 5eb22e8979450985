"""The pure rules of ledger/rules.py: each event kind, feeds, safety stock, ATP, and the
vectorised path held to the event-by-event rules on random batches."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import rules as ledger
from ledger.rules import (
    COUNT,
    FOUND,
    RECEIPT,
    RETURN,
    SALE,
    TAKE_AWAY,
    UNSET,
    LocationRules,
    Outcome,
    Position,
    apply_effect,
    apply_stock_events,
    available_to_promise,
    feed_is_stale,
    on_hand_from_feed,
    resolve_safety_stock,
)

STORE = LocationRules(kind="store", feed_as_of_us=1_000)
WAREHOUSE = LocationRules(kind="warehouse", feed_as_of_us=1_000, feed_basis="physical")


def test_atp_is_on_hand_less_reserved_and_safety_stock_floored_at_zero():
    atp = available_to_promise(np.array([10, 3, -2]), np.array([2, 3, 0]), np.array([1, 1, 0]))
    assert atp.tolist() == [7, 0, 0]


def test_most_specific_safety_stock_wins():
    resolved = resolve_safety_stock(
        per_position=np.array([UNSET, UNSET, UNSET, UNSET, 4]),
        per_sku=np.array([UNSET, UNSET, UNSET, 3, 3]),
        per_location=np.array([UNSET, UNSET, 2, 2, 2]),
        per_kind=np.array([UNSET, 1, 1, 1, 1]),
    )
    assert resolved.tolist() == [0, 1, 2, 3, 4]


def test_physical_feed_sets_on_hand_and_available_feed_adds_back_reservations():
    assert on_hand_from_feed("physical", 6, 4) == 6
    assert on_hand_from_feed("available", 6, 4) == 10


def test_feed_older_than_last_is_stale_and_the_same_as_of_is_not():
    assert feed_is_stale(5, 6)
    assert not feed_is_stale(6, 6)
    assert not feed_is_stale(6, None)


def test_delta_at_the_feed_moment_is_counted_by_the_feed():
    assert ledger.sale(1, 1_000, STORE, Position(5)).outcome is Outcome.BEFORE_FEED
    assert ledger.sale(1, 1_001, STORE, Position(5)).on_hand_delta == -1


def test_store_receipt_is_held_and_warehouse_receipt_is_recorded_for_the_next_feed():
    assert ledger.receipt(3, 2_000, STORE, Position(), is_return=False).held_delta == 3
    warehouse = ledger.receipt(3, 2_000, WAREHOUSE, Position(), is_return=False)
    assert (warehouse.outcome, warehouse.on_hand_delta, warehouse.held_delta) == (
        Outcome.RECORDED_UNTIL_FEED,
        0,
        0,
    )


def test_shipment_before_an_available_basis_feed_still_leaves_on_hand():
    available = LocationRules(kind="warehouse", feed_as_of_us=1_000, feed_basis="available")
    assert ledger.shipped(2, 2, 900, available, Position(10, 2)).on_hand_delta == -2
    assert ledger.shipped(2, 2, 900, WAREHOUSE, Position(10, 2)).on_hand_delta == 0
    assert ledger.shipped(2, 2, 900, WAREHOUSE, Position(10, 2)).reserved_delta == -2


def test_rejection_releases_at_most_what_is_reserved():
    effect = ledger.rejected(5, 2, False, 2_000, STORE, Position(10, 2))
    assert apply_effect(Position(10, 2), effect) == Position(10, 0)


# --- the vectorised path against the event-by-event rules -------------------------------------

KINDS = [
    ("sale", SALE),
    ("lost", TAKE_AWAY),
    ("found", FOUND),
    ("count", COUNT),
    ("receipt", RECEIPT),
    ("return", RETURN),
]

event_strategy = st.tuples(
    st.integers(0, 3),  # position
    st.integers(0, 12),  # occurred (coarse, so ties and feed-time equalities happen)
    st.sampled_from(range(len(KINDS))),
    st.integers(1, 5),
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(event_strategy, max_size=25),
    on_hand0=st.lists(st.integers(-3, 9), min_size=4, max_size=4),
    counted0=st.lists(st.sampled_from([-1, 2, 6]), min_size=4, max_size=4),
    feed=st.lists(st.sampled_from([-1, 0, 4, 8]), min_size=4, max_size=4),
    store=st.lists(st.booleans(), min_size=4, max_size=4),
    at_once=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_vectorised_rules_match_event_by_event_rules(
    events, on_hand0, counted0, feed, store, at_once
):
    order = sorted(range(len(events)), key=lambda i: (events[i][0], events[i][1], i))
    ordered = [events[i] for i in order]
    position = np.array([e[0] for e in ordered], dtype=np.int64)
    occurred = np.array([e[1] for e in ordered], dtype=np.int64)
    code = np.array([KINDS[e[2]][1] for e in ordered], dtype=np.int64)
    quantity = np.array([e[3] for e in ordered], dtype=np.int64)
    result = apply_stock_events(
        position, occurred, code, quantity,
        np.array(on_hand0), np.zeros(4, dtype=np.int64), np.array(counted0), np.array(feed),
        np.array(store), np.array(at_once), np.array(at_once[::-1]),
    )  # fmt: skip

    positions = {
        p: Position(on_hand0[p], 0, 0, None if counted0[p] < 0 else counted0[p]) for p in range(4)
    }
    for k, (p, t, kind, q) in enumerate(ordered):
        rules = LocationRules(
            kind="store" if store[p] else "warehouse",
            receipts_count_at_once=at_once[p],
            returns_auto_approved=at_once[::-1][p],
            feed_as_of_us=None if feed[p] < 0 else feed[p],
        )
        name = KINDS[kind][0]
        if name == "sale":
            effect = ledger.sale(q, t, rules, positions[p])
        elif name in ("receipt", "return"):
            effect = ledger.receipt(q, t, rules, positions[p], is_return=name == "return")
        else:
            effect = ledger.variance(q, name, t, rules, positions[p])
        positions[p] = apply_effect(positions[p], effect)
        assert ledger.OUTCOME_NAMES[result.outcome[k]] == effect.outcome.value, (k, ordered)
        assert result.on_hand_after[k] == positions[p].on_hand, (k, ordered)
        assert result.held_after[k] == positions[p].held, (k, ordered)
    for p in range(4):
        assert result.on_hand[p] == positions[p].on_hand
        assert result.held[p] == positions[p].held
        assert result.counted_at_us[p] == (
            positions[p].counted_at_us if positions[p].counted_at_us is not None else -1
        )
