"""A versioned snapshot of the ledger: every position's ATP at one ledger version, as arrays.

Positions are rows of aligned numpy arrays keyed by the ledger's integer ids; codes (the ids of
the wire) come back only when a snapshot is turned into a DataFrame or a solve request's
``inventory``. :func:`storage.snapshots.take_snapshot` reads one from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ledger.rules import UNSET, available_to_promise, resolve_safety_stock


@dataclass(frozen=True, slots=True)
class Catalog:
    """Lookup arrays indexed by the ledger's integer ids (id -> code, kind, flags)."""

    location_code: np.ndarray  # object, index = location id
    location_kind: np.ndarray  # object
    location_ships: np.ndarray  # bool
    location_pickup: np.ndarray  # bool: serves pickup (the contract's default by kind resolved)
    location_safety_stock: np.ndarray  # int64, UNSET when none
    sku_code: np.ndarray  # object, index = sku id
    sku_category: np.ndarray  # object (None when none)
    sku_safety_stock: np.ndarray  # int64, UNSET when none
    sku_online_threshold: np.ndarray  # int64, UNSET when none
    kind_safety_stock: dict[str, int]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """ATP per position at ledger version ``version``; arrays aligned per position."""

    version: int
    taken_us: int
    catalog: Catalog
    location_id: np.ndarray  # int64
    sku_id: np.ndarray  # int64
    on_hand: np.ndarray  # int64
    reserved: np.ndarray  # int64
    safety_stock: np.ndarray  # int64, resolved
    atp: np.ndarray  # int64

    @property
    def positions(self) -> int:
        return int(self.location_id.size)

    def to_frame(self) -> pd.DataFrame:
        """One row per position: location_id, sku (codes), on_hand, reserved, safety_stock, atp."""
        return pd.DataFrame(
            {
                "location_id": pd.Categorical.from_codes(
                    self.location_id, categories=_categories(self.catalog.location_code)
                ),
                "sku": pd.Categorical.from_codes(
                    self.sku_id, categories=_categories(self.catalog.sku_code)
                ),
                "on_hand": self.on_hand,
                "reserved": self.reserved,
                "safety_stock": self.safety_stock,
                "atp": self.atp,
            }
        )

    def inventory(
        self, sku_ids: np.ndarray | None = None, drop_zero: bool = True
    ) -> list[dict[str, Any]]:
        """The ``inventory`` of a solve request: ATP per (location, sku), restricted to
        ``sku_ids`` if given; zero rows left out by default (a pair not listed has 0)."""
        keep = np.ones(self.positions, dtype=bool)
        if sku_ids is not None:
            keep &= np.isin(self.sku_id, sku_ids)
        if drop_zero:
            keep &= self.atp > 0
        locations = self.catalog.location_code[self.location_id[keep]]
        skus = self.catalog.sku_code[self.sku_id[keep]]
        quantities = self.atp[keep].tolist()
        return [
            {"location_id": location, "sku": sku, "quantity": quantity}
            for location, sku, quantity in zip(
                locations.tolist(), skus.tolist(), quantities, strict=True
            )
        ]


def _categories(codes: np.ndarray) -> pd.Index:
    # Ids are dense from 1; slot 0 (and any gap) gets a placeholder so codes index directly.
    filled = [code if code is not None else f"#{i}" for i, code in enumerate(codes.tolist())]
    return pd.Index(filled)


def build_snapshot(
    version: int,
    taken_us: int,
    catalog: Catalog,
    location_id: np.ndarray,
    sku_id: np.ndarray,
    on_hand: np.ndarray,
    reserved: np.ndarray,
    position_safety_stock: np.ndarray,
) -> Snapshot:
    """Resolve safety stock and ATP for raw position arrays (all vectorised)."""
    # Location and kind resolve per location (a few thousand), then one gather per position;
    # the sku level is gathered only if some sku has a setting.
    kind_safety = np.full(catalog.location_kind.size, UNSET, dtype=np.int64)
    for kind, quantity in catalog.kind_safety_stock.items():
        kind_safety[catalog.location_kind == kind] = quantity
    per_location = resolve_safety_stock(UNSET, UNSET, catalog.location_safety_stock, kind_safety)
    per_sku = (
        catalog.sku_safety_stock[sku_id] if (catalog.sku_safety_stock != UNSET).any() else UNSET
    )
    safety = resolve_safety_stock(position_safety_stock, per_sku, per_location[location_id], UNSET)
    return Snapshot(
        version=version,
        taken_us=taken_us,
        catalog=catalog,
        location_id=location_id,
        sku_id=sku_id,
        on_hand=on_hand,
        reserved=reserved,
        safety_stock=safety,
        atp=available_to_promise(on_hand, reserved, safety),
    )
