"""The outbound availability feed for the web shop, computed from a snapshot (vectorised).

Online, per sku: the ATP summed over the locations that ship, less the sku's online threshold
(its own, else its category's), floored at 0. Pickup, per (store, sku): the ATP at each location
that serves pickup. Rows are keyed by one int64 (``location_id << 32 | sku_id``; location 0 for
online) so publishing can diff millions of rows with sorted-array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ledger.rules import UNSET
from ledger.snapshot import Snapshot

ONLINE = "online"
PICKUP = "pickup"


def key_of(location_id: np.ndarray | int, sku_id: np.ndarray | int) -> np.ndarray:
    return (np.asarray(location_id, dtype=np.int64) << 32) | np.asarray(sku_id, dtype=np.int64)


def split_key(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return key >> 32, key & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Availability:
    """Sorted keys and quantities of one scope."""

    key: np.ndarray
    quantity: np.ndarray


def online_availability(snapshot: Snapshot) -> Availability:
    """Per sku with any position: units sellable online."""
    catalog = snapshot.catalog
    ships = catalog.location_ships[snapshot.location_id]
    size = catalog.sku_code.size
    total = np.bincount(snapshot.sku_id[ships], weights=snapshot.atp[ships], minlength=size)
    threshold = np.where(catalog.sku_online_threshold == UNSET, 0, catalog.sku_online_threshold)
    sellable = np.maximum(0, total.astype(np.int64) - threshold)
    present = np.flatnonzero(np.bincount(snapshot.sku_id, minlength=size) > 0)
    return Availability(key_of(0, present), sellable[present])


def pickup_availability(snapshot: Snapshot) -> Availability:
    """Per (location serving pickup, sku): the ATP there."""
    at_pickup = snapshot.catalog.location_pickup[snapshot.location_id]
    key = key_of(snapshot.location_id[at_pickup], snapshot.sku_id[at_pickup])
    order = np.argsort(key, kind="stable")
    return Availability(key[order], snapshot.atp[at_pickup][order])


def changes(published: Availability, current: Availability) -> Availability:
    """Rows whose quantity differs from the published one. A row published before and now
    absent becomes 0; a row never published is a change only if it is not 0."""
    if np.array_equal(published.key, current.key):
        # The usual morning: the same rows as last time, only quantities moved.
        changed = published.quantity != current.quantity
        return Availability(current.key[changed], current.quantity[changed])
    # Both key arrays are sorted: their union is the published keys plus the new ones, and a
    # stable sort (timsort) of two sorted runs is one linear merge, not the full sort that
    # ``np.union1d`` does on ten million keys.
    new = current.key[~_contains(published.key, current.key)]
    everything = np.sort(np.concatenate([published.key, new]), kind="stable")
    before = _lookup(published, everything)
    after = _lookup(current, everything)
    changed = before != after
    return Availability(everything[changed], after[changed])


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[at] == keys


def _lookup(scope: Availability, keys: np.ndarray) -> np.ndarray:
    """Quantities of ``keys`` in ``scope`` (sorted keys), 0 where absent."""
    if scope.key.size == 0:
        return np.zeros(keys.size, dtype=np.int64)
    index = np.searchsorted(scope.key, keys)
    index = np.minimum(index, scope.key.size - 1)
    found = scope.key[index] == keys
    return np.where(found, scope.quantity[index], 0).astype(np.int64)
