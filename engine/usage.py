"""What an allocation uses of each stock row and location, and what that leaves.

Counted once from an allocation, then kept up to date move by move (the neighbourhood search
moves a few hundred orders at a time out of tens of thousands), so nobody recounts the whole
allocation to learn what one change frees or takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.problem import UNLIMITED, BoolArray, IntArray, ProblemData


@dataclass
class Usage:
    """What an allocation uses of each stock row and location, kept up to date as it changes."""

    stock: IntArray  # units per inventory row
    units: IntArray  # units per location
    pair_units: IntArray  # units per (order, location) pair
    shipments: IntArray  # used pairs per location

    @classmethod
    def of(cls, data: ProblemData, x: IntArray) -> Usage:
        pair_units = np.bincount(data.candidate_pair, weights=x, minlength=data.n_pairs)
        return cls(
            stock=np.bincount(
                data.candidate_inventory, weights=x, minlength=data.inventory_quantity.size
            ).astype(np.int64),
            units=np.bincount(
                data.candidate_location, weights=x, minlength=data.n_locations
            ).astype(np.int64),
            pair_units=pair_units.astype(np.int64),
            shipments=np.bincount(
                data.pair_location, weights=pair_units > 0, minlength=data.n_locations
            ).astype(np.int64),
        )

    def without(self, data: ProblemData, candidates: IntArray, units: IntArray) -> Usage:
        """The usage with ``units`` on ``candidates`` taken back."""
        other = Usage(self.stock.copy(), self.units.copy(), self.pair_units, self.shipments.copy())
        other.move(data, candidates, units, np.zeros_like(units), pairs_in_place=False)
        return other

    def at_capacity(self, data: ProblemData) -> BoolArray:
        """Locations whose shipments or units are used up (unlimited ones never are)."""
        full = np.zeros(data.n_locations, dtype=bool)
        for capacity, used in (
            (data.location_max_shipments, self.shipments),
            (data.location_max_units, self.units),
        ):
            full |= (capacity != UNLIMITED) & (used >= capacity)
        return full

    def fits(self, data: ProblemData, candidates: IntArray, old: IntArray, new: IntArray) -> bool:
        """Would moving ``candidates`` from ``old`` to ``new`` units keep every stock row and
        location capacity? (Another neighbourhood may have taken stock since ``new`` was found.)"""
        after = Usage(self.stock.copy(), self.units.copy(), self.pair_units, self.shipments.copy())
        after.move(data, candidates, old, new, pairs_in_place=False)
        rows = data.candidate_inventory[candidates]
        locations = data.candidate_location[candidates]
        return bool(
            np.all(after.stock[rows] <= data.inventory_quantity[rows])
            and np.all(within_capacity(after.units[locations], data.location_max_units[locations]))
            and np.all(
                within_capacity(after.shipments[locations], data.location_max_shipments[locations])
            )
        )

    def move(
        self,
        data: ProblemData,
        candidates: IntArray,
        old: IntArray,
        new: IntArray,
        *,
        pairs_in_place: bool = True,
    ) -> None:
        delta = new - old
        np.add.at(self.stock, data.candidate_inventory[candidates], delta)
        np.add.at(self.units, data.candidate_location[candidates], delta)
        pairs, inverse = np.unique(data.candidate_pair[candidates], return_inverse=True)
        before = self.pair_units[pairs]
        after = before + np.bincount(inverse.reshape(-1), weights=delta, minlength=pairs.size)
        np.add.at(
            self.shipments,
            data.pair_location[pairs],
            (after > 0).astype(np.int64) - (before > 0),
        )
        if pairs_in_place:
            self.pair_units[pairs] = after.astype(np.int64)


def within_capacity(used: IntArray, capacity: IntArray) -> BoolArray:
    """Per location: is ``used`` within its ``capacity`` (always, where unlimited)?"""
    return (capacity == UNLIMITED) | (used <= capacity)


def capacity_left(capacity: IntArray, used: IntArray) -> IntArray:
    """A location capacity less what is used of it (unlimited stays unlimited)."""
    return np.where(capacity == UNLIMITED, UNLIMITED, np.maximum(capacity - used, 0))
