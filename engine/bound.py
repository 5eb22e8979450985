"""A proven lower bound on the cost at a fill, and the prices behind it, by column generation.

Orders interact only through stock and location capacities. The LP relaxation of the whole batch
(HiGHS needs a minute for it at 10,000 orders x 200 locations) is solved instead over a few
columns, the *restricted master*: the incumbent allocation's candidates and each line's cheapest
few. Its row duals are prices: what a unit of a stock row, a unit or a shipment of a capacitated
location, a unit of a line and a unit of fill are worth. With them every candidate of the batch is
priced out at once, in numpy, and

    LB(y) = sum over rows of y_r * (the bound of row r it presses on)
          + sum over pairs k of min(0, f_k + sum over the pair's candidates c of u_c * min(0, r_c))
          + sum over all-or-nothing orders of min(0, g_o)

is a lower bound on the LP, and so on every allocation at that fill, for *any* duals y of the
right signs (Lagrangian relaxation of every row but the shipment links ``x_c <= u_c y_k``, which
each pair keeps: ``r_c`` is a candidate's reduced cost, ``f_k`` a shipment's, ``u_c`` its most
units, ``g_o`` an order's ``z``). Candidates that price out negative join the master and it is
solved again from its last basis; when none does, LB equals the LP bound over every candidate.
The bound is valid at every iteration, so a caller out of time still has one.

A large master (L's first holds 300k candidates, which HiGHS' dual simplex needs 35-70 s for) is
solved instead by a first-order method, HiGHS' PDLP, to a loose tolerance: 5-10 s a round, cold
each time. Its duals are only near-optimal, which costs the bound nothing but a little strength:
LB holds at any duals.

This is the LP-dual view of fulfilment of Acimovic & Graves (2015): the duals of the stock rows
are the opportunity cost of a unit at a location, which the search uses to pick neighbourhoods and
the candidates worth offering.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import highspy
import numpy as np
from highspy._core import _Highs

from engine.candidates import cheapness_rank
from engine.measures import fill_by_priority
from engine.problem import UNLIMITED, BoolArray, FloatArray, IntArray, ProblemData

_INF = highspy.kHighsInf
# HiGHS' simplex_strategy values
_DUAL_SIMPLEX = 1
_PRIMAL_SIMPLEX = 4


def quiet_highs() -> Any:
    """A HiGHS instance that writes nothing: highspy's ``Highs()`` prints a banner to stdout
    when it sets up its callbacks (stdout is the command line's JSON), so the core class that
    it wraps is used; its ``run`` releases the GIL all the same.

    Its ``threads`` option is left alone: HiGHS sizes one scheduler per process on first use,
    and an instance asking for another size later fails to run at all."""
    h = _Highs()
    h.setOptionValue("output_flag", False)
    return h


@dataclass(frozen=True)
class Prices:
    """What the relaxation's duals say of each candidate and shipment: the search's guide."""

    candidate_reduced_cost: FloatArray  # per candidate: its unit's cost less what it earns
    pair_reduced_cost: FloatArray  # per pair: the shipment's cost at these prices
    # per pair: the most its shipment could lower the Lagrangian, its candidates' gains
    # included (0 where it would not pay for itself)
    pair_value: FloatArray


@dataclass(frozen=True)
class Objective:
    """What the relaxation minimises: a price per unit of each candidate and per shipment of
    each pair. The contract's cost by default; the fill relaxation (:mod:`engine.fill_bound`)
    gives each unit of the priority it fills a negative price instead."""

    candidate: FloatArray  # per candidate, per unit
    pair: FloatArray  # per pair, per shipment

    @classmethod
    def cost(cls, data: ProblemData) -> Objective:
        return cls(
            data.location_unit_cost[data.candidate_location].astype(np.float64),
            data.pair_cost.astype(np.float64),
        )


@dataclass(frozen=True)
class CostBound:
    """A proven lower bound on the cost of any allocation with at least ``fill`` per priority."""

    value: float  # the bound (the Lagrangian value at the best duals found)
    master_value: float  # the restricted master's LP optimum (the LP bound once converged)
    fill: dict[int, int]
    converged: bool  # no candidate priced out negative: ``value`` is the full LP's bound
    iterations: int
    columns: int  # candidates in the master when it stopped
    seconds: float
    prices: Prices | None = field(default=None, repr=False)
    duals: Duals | None = field(default=None, repr=False)  # the best round's, per element
    # every round's Lagrangian value at ``fill`` and fill prices (highest priority first)
    rounds: tuple[tuple[float, FloatArray], ...] = field(default=(), repr=False)

    def at_fill(self, fill: dict[int, int], priorities: list[int]) -> CostBound | None:
        """The bound carried to another ``fill``, or None when it says nothing there.

        Each round's duals hold at any fill: only the fill rows' part of the Lagrangian moves,
        by each priority's fill price times the change in its units. The best round there need
        not be the best at ``self.fill`` (PDLP's rounds at L: 421k and 448k at the same answer),
        so every round is carried. Without duals (or where the Lagrangian was cut at 0), the
        bound holds only at a fill at least as high everywhere."""
        if fill == self.fill:
            return self
        change = np.array([fill.get(p, 0) - self.fill.get(p, 0) for p in priorities], float)
        # (each round's value moves with it, so that a carried bound may be carried again)
        rounds = tuple(
            (value + float(np.dot(price, change)), price) for value, price in self.rounds
        )
        carried = [value for value, _ in rounds]
        if self.duals is not None and self.value > 0.0:
            carried.append(self.value + float(np.dot(self.duals.fill, change)))
        if carried:
            return replace(self, value=max(0.0, *carried), fill=dict(fill), rounds=rounds)
        return self if covers(self.fill, fill) else None


class RestrictedMaster:
    """The LP relaxation of the batch at a fill, over the candidates added so far, in HiGHS.

    Rows exist only for what the master touches: every line, the no-split orders, the
    capacitated locations and the priorities up front; a stock row when its first candidate
    joins; a shipment link per candidate. (Declaring all of the batch's stock rows up front
    made each simplex iteration at 50,000 orders carry a million empty rows.) Adding candidates
    adds their columns and rows, and HiGHS goes on from its last basis instead of starting over.
    A row the master lacks has dual 0 in the bound, which any dual may be.
    """

    def __init__(
        self,
        data: ProblemData,
        fill: dict[int, int],
        first_order_tolerance: float | None = None,
        objective: Objective | None = None,
    ):
        self.data = data
        self.fill = dict(fill)
        self.objective = Objective.cost(data) if objective is None else objective
        h = quiet_highs()
        h.setOptionValue("random_seed", 0)
        # ``first_order_tolerance``: the master is solved by PDLP to that relative accuracy
        self.first_order_tolerance = first_order_tolerance
        # the simplex a solve starts with: see ``solve``
        self._rows_moved = True
        if first_order_tolerance is not None:
            h.setOptionValue("solver", "pdlp")
            h.setOptionValue("kkt_tolerance", float(first_order_tolerance))
        self.h = h
        self.row_lower = np.empty(0)
        self.row_upper = np.empty(0)
        self.n_columns = 0
        priorities = data.priorities

        self.aon_line = ~data.order_allow_partial[data.line_order]
        # a line's row: sum x <= quantity; an all-or-nothing line's: sum x - quantity z = 0
        self.line_row = self._add_rows(
            np.where(self.aon_line, 0.0, -_INF),
            np.where(self.aon_line, 0.0, data.line_quantity.astype(np.float64)),
        )
        self.order_row = self._rows_for(~data.order_allow_split, np.ones(data.n_orders))
        self.ships_row = self._rows_for(
            data.location_max_shipments != UNLIMITED, data.location_max_shipments
        )
        self.units_row = self._rows_for(
            data.location_max_units != UNLIMITED, data.location_max_units
        )
        fill_lower = np.array([float(self.fill.get(p, 0)) for p in priorities])
        self.fill_row = self._add_rows(fill_lower, np.full(len(priorities), _INF))
        self.stock_row = np.full(data.inventory_quantity.size, -1, dtype=np.int64)

        # z per all-or-nothing order: -quantity in each of its lines' rows (sum x = q z)
        self.aon_orders = np.flatnonzero(~data.order_allow_partial)
        if self.aon_orders.size:
            lines = np.flatnonzero(self.aon_line)
            z_of_order = np.full(data.n_orders, -1, dtype=np.int64)
            z_of_order[self.aon_orders] = np.arange(self.aon_orders.size)
            by_z = lines[np.argsort(z_of_order[data.line_order[lines]], kind="stable")]
            starts = np.searchsorted(
                z_of_order[data.line_order[by_z]], np.arange(self.aon_orders.size)
            )
            self._add_columns(
                np.zeros(self.aon_orders.size),
                np.ones(self.aon_orders.size),
                starts,
                self.line_row[by_z],
                -data.line_quantity[by_z].astype(np.float64),
            )
        self.candidate_column = np.full(data.n_candidates, -1, dtype=np.int64)
        self.pair_column = np.full(data.n_pairs, -1, dtype=np.int64)

    # --- building ------------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        return int(self.row_lower.size)

    def _add_rows(
        self,
        lower: FloatArray,
        upper: FloatArray,
        starts: IntArray | None = None,
        index: IntArray | None = None,
        value: FloatArray | None = None,
    ) -> IntArray:
        """Rows ``lower <= a x <= upper`` (empty ones unless entries are given); their indices."""
        n = int(lower.size)
        first = self.n_rows
        if starts is None or index is None or value is None:
            starts, index, value = np.zeros(n, np.int64), np.zeros(0, np.int64), np.zeros(0)
        self.h.addRows(
            n,
            np.ascontiguousarray(lower, dtype=np.float64),
            np.ascontiguousarray(upper, dtype=np.float64),
            int(index.size),
            np.ascontiguousarray(starts, dtype=np.int32),
            np.ascontiguousarray(index, dtype=np.int32),
            np.ascontiguousarray(value, dtype=np.float64),
        )
        self.row_lower = np.concatenate([self.row_lower, lower])
        self.row_upper = np.concatenate([self.row_upper, upper])
        return np.arange(first, first + n, dtype=np.int64)

    def _rows_for(self, present: BoolArray, upper: IntArray | FloatArray) -> IntArray:
        """A ``<= upper`` row for each element where ``present``; -1 elsewhere."""
        row = np.full(present.size, -1, dtype=np.int64)
        chosen = np.flatnonzero(present)
        row[chosen] = self._add_rows(
            np.full(chosen.size, -_INF), np.asarray(upper, dtype=np.float64)[chosen]
        )
        return row

    def _add_columns(
        self,
        cost: FloatArray,
        upper: FloatArray,
        starts: IntArray,
        index: IntArray,
        value: FloatArray,
    ) -> IntArray:
        n = int(cost.size)
        self.h.addCols(
            n,
            np.ascontiguousarray(cost, dtype=np.float64),
            np.zeros(n),
            np.ascontiguousarray(upper, dtype=np.float64),
            int(index.size),
            np.ascontiguousarray(starts, dtype=np.int32),
            np.ascontiguousarray(index, dtype=np.int32),
            np.ascontiguousarray(value, dtype=np.float64),
        )
        columns = np.arange(self.n_columns, self.n_columns + n, dtype=np.int64)
        self.n_columns += n
        return columns

    def add(self, candidates: IntArray) -> int:
        """Add candidates not yet in the master (with their shipments and links); how many."""
        data = self.data
        candidates = np.unique(candidates)
        candidates = candidates[self.candidate_column[candidates] < 0]
        candidates = candidates[data.candidate_upper[candidates] > 0]
        if candidates.size == 0:
            return 0
        inventory = data.candidate_inventory[candidates].astype(np.int64)
        missing = np.unique(inventory[self.stock_row[inventory] < 0])
        if missing.size:
            self.stock_row[missing] = self._add_rows(
                np.full(missing.size, -_INF), data.inventory_quantity[missing].astype(np.float64)
            )
        # x columns: line (or all-or-nothing) row, stock row, fill row, location units row
        line = data.candidate_line[candidates].astype(np.int64)
        units_row = self.units_row[data.candidate_location[candidates]]
        capped = units_row >= 0
        counts = np.full(candidates.size, 3, dtype=np.int64) + capped
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        index = np.empty(int(counts.sum()), dtype=np.int64)
        index[starts] = self.line_row[line]
        index[starts + 1] = self.stock_row[inventory]
        index[starts + 2] = self.fill_row[self._priority_rank(data.line_priority[line])]
        index[starts[capped] + 3] = units_row[capped]
        x_columns = self._add_columns(
            self._x_cost(candidates),
            data.candidate_upper[candidates].astype(np.float64),
            starts,
            index,
            np.ones(index.size),
        )
        self.candidate_column[candidates] = x_columns

        # y columns for new shipments: no-split row of its order, shipments row of its location
        pairs = np.unique(data.candidate_pair[candidates])
        pairs = pairs[self.pair_column[pairs] < 0]
        if pairs.size:
            order_row = self.order_row[data.pair_order[pairs]]
            ships_row = self.ships_row[data.pair_location[pairs]]
            has_order_row, has_ships_row = order_row >= 0, ships_row >= 0
            counts = has_order_row.astype(np.int64) + has_ships_row
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            index = np.empty(int(counts.sum()), dtype=np.int64)
            index[starts[has_order_row]] = order_row[has_order_row]
            index[starts[has_ships_row] + has_order_row[has_ships_row]] = ships_row[has_ships_row]
            self.pair_column[pairs] = self._add_columns(
                self._y_cost(pairs), np.ones(pairs.size), starts, index, np.ones(index.size)
            )

        # links: x_c - u_c y_k <= 0
        n = candidates.size
        link_index = np.empty(2 * n, dtype=np.int64)
        link_index[0::2] = x_columns
        link_index[1::2] = self.pair_column[data.candidate_pair[candidates]]
        link_value = np.empty(2 * n)
        link_value[0::2] = 1.0
        link_value[1::2] = -data.candidate_upper[candidates].astype(np.float64)
        self._add_rows(
            np.full(n, -_INF),
            np.zeros(n),
            np.arange(0, 2 * n, 2, dtype=np.int64),
            link_index,
            link_value,
        )
        return int(n)

    def _priority_rank(self, priority: IntArray) -> IntArray:
        return _priority_rank(self.data, priority)

    def _x_cost(self, candidates: IntArray) -> FloatArray:
        return self.objective.candidate[candidates]

    def _y_cost(self, pairs: IntArray) -> FloatArray:
        return self.objective.pair[pairs]

    def change_objective(self, objective: Objective) -> None:
        """Price the master's columns anew (its basis stays: the next solve starts from it)."""
        self.objective = objective
        for columns, costs in (
            (self.candidate_column, objective.candidate),
            (self.pair_column, objective.pair),
        ):
            present = np.flatnonzero(columns >= 0)
            self.h.changeColsCost(
                int(present.size),
                np.ascontiguousarray(columns[present], dtype=np.int32),
                np.ascontiguousarray(costs[present], dtype=np.float64),
            )

    def hold_fill(self, fill: dict[int, int]) -> None:
        """Change the fill the master holds (the bound is then at that fill)."""
        self.fill = dict(fill)
        for rank, p in enumerate(self.data.priorities):
            row = int(self.fill_row[rank])
            units = float(self.fill.get(p, 0))
            self.row_lower[row] = units  # the bound's constant reads it
            self.h.changeRowBounds(row, units, _INF)
        self._rows_moved = True

    # --- solving and pricing -------------------------------------------------------------------

    def solve(self, time_limit_s: float) -> bool:
        """Solve the master; has it duals to price with? The simplex has them at its optimum
        only. PDLP has them whenever it says so, its optimum to its tolerance or not ("Unknown"
        is common at L): any duals give a bound, and better ones a better bound."""
        # HiGHS' time limit counts the instance's whole run time, every earlier solve included
        spent = float(self.h.getRunTime())
        self.h.setOptionValue("time_limit", spent + max(0.01, float(time_limit_s)))
        if self.first_order_tolerance is None:
            # The first solve and one after the fill rows moved start from a basis that is
            # dual feasible but not primal: the dual simplex. Columns added (or prices
            # changed) since an optimum leave its basis primal feasible: the primal simplex
            # goes on from there. At M-seed1 that took column generation from 34 s to 17 s.
            strategy = _DUAL_SIMPLEX if self._rows_moved else _PRIMAL_SIMPLEX
            self.h.setOptionValue("simplex_strategy", strategy)
        self.h.run()
        self._rows_moved = not self.optimal
        if self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            return True
        return self.first_order_tolerance is not None and bool(self.h.getSolution().dual_valid)

    @property
    def optimal(self) -> bool:
        """Did the last solve reach the master's optimum (PDLP's: to its tolerance)?"""
        return self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def value(self) -> float:
        return float(self.h.getInfo().objective_function_value)

    def candidate_values(self) -> FloatArray:
        """The last solve's units per candidate of the batch (0 where it has no column)."""
        values = np.asarray(self.h.getSolution().col_value, dtype=np.float64)
        column = self.candidate_column
        if values.size < self.n_columns:  # no solution (an empty master, or none yet)
            return np.zeros(column.size)
        return np.where(column >= 0, values[np.maximum(column, 0)], 0.0)

    def row_duals(self) -> FloatArray:
        duals = np.asarray(self.h.getSolution().row_dual, dtype=np.float64)
        # Signs the rows allow (HiGHS: reduced cost = c - A^T y): a row with no finite upper
        # bound has no negative dual, one with no finite lower bound no positive one. Solver
        # noise past those is cut, which keeps the bound valid.
        duals = np.where(np.isfinite(self.row_upper), duals, np.maximum(duals, 0.0))
        return np.where(np.isfinite(self.row_lower), duals, np.minimum(duals, 0.0))

    def _per(self, duals: FloatArray, rows: IntArray) -> FloatArray:
        """Each element's row dual, 0 where it has no row in the master."""
        return np.where(rows >= 0, duals[np.maximum(rows, 0)], 0.0)

    def element_duals(self, duals: FloatArray) -> Duals:
        """The row duals of the master as duals per line, stock row, order, location and
        priority (0 where the master has no row)."""
        return Duals(
            line=duals[self.line_row],
            stock=self._per(duals, self.stock_row),
            order=self._per(duals, self.order_row),
            ships=self._per(duals, self.ships_row),
            units=self._per(duals, self.units_row),
            fill=duals[self.fill_row],
        )

    def price(self, duals: FloatArray) -> tuple[float, Prices, FloatArray]:
        """The Lagrangian bound at ``duals`` over every candidate, the prices, and per pair what
        its candidates outside the master would add to the bound (negative: they would lower
        the master's cost; the master's own columns price out at its optimum)."""
        data = self.data
        bound, prices = lagrangian(data, self.element_duals(duals), self.fill, self.objective)
        # What the master could make of each pair with the candidates it has: a pair whose
        # value is lower over every candidate than over the master's gains from more of them.
        earns = data.candidate_upper * np.minimum(prices.candidate_reduced_cost, 0.0)
        in_master = self.candidate_column >= 0
        master_pair_value = np.where(
            self.pair_column >= 0,
            np.minimum(
                prices.pair_reduced_cost
                + np.bincount(
                    data.candidate_pair,
                    weights=np.where(in_master, earns, 0.0),
                    minlength=data.n_pairs,
                ),
                0.0,
            ),
            0.0,
        )
        return bound, prices, prices.pair_value - master_pair_value


@dataclass(frozen=True)
class Duals:
    """A price per row of the batch's relaxation, by what the row is about. Signs as the rows
    allow: ``<=`` rows (a line's quantity, stock, no-split, capacities) at most 0, ``>=`` rows
    (fill) at least 0; an all-or-nothing line's row is an equality, any sign."""

    line: FloatArray  # per line
    stock: FloatArray  # per inventory row
    order: FloatArray  # per order: its no-split row (0 for orders that may split)
    ships: FloatArray  # per location: its shipments row (0 where unlimited)
    units: FloatArray  # per location: its units row (0 where unlimited)
    fill: FloatArray  # per priority, highest first (data.priorities)


@dataclass(frozen=True)
class RowPrices:
    """The stock and capacity rows' duals as prices, for a bound that relaxes just those rows
    the Lagrangian way: each at most 0 (a wrong-signed dual is taken as 0, which keeps any such
    bound valid), none on an unlimited location's capacity (it has no row); and the sum of each
    dual times its row's bound (at most 0)."""

    stock: FloatArray  # per inventory row
    units: FloatArray  # per location
    ships: FloatArray  # per location
    constant: float

    @classmethod
    def of(cls, data: ProblemData, duals: Duals) -> RowPrices:
        stock = np.minimum(duals.stock, 0.0)
        units = np.where(data.location_max_units != UNLIMITED, np.minimum(duals.units, 0.0), 0.0)
        ships = np.where(
            data.location_max_shipments != UNLIMITED, np.minimum(duals.ships, 0.0), 0.0
        )
        constant = (
            float(np.dot(stock, data.inventory_quantity))
            + float(np.dot(units, np.where(units < 0, data.location_max_units, 0)))
            + float(np.dot(ships, np.where(ships < 0, data.location_max_shipments, 0)))
        )
        return cls(stock, units, ships, constant)


def lagrangian(
    data: ProblemData, duals: Duals, fill: dict[int, int], objective: Objective | None = None
) -> tuple[float, Prices]:
    """The Lagrangian bound on the cost (or ``objective``) of any allocation with at least
    ``fill`` per priority, at ``duals`` (every row relaxed but the shipment links; see the
    module's docstring), in one pass over the candidates, and the prices it implies. Valid for
    any duals of the right signs; the LP bound at the LP's duals."""
    objective = Objective.cost(data) if objective is None else objective
    aon_line = ~data.order_allow_partial[data.line_order]
    ranks = _priority_rank(data, data.line_priority)
    reduced = (
        objective.candidate
        - duals.line[data.candidate_line]
        - duals.stock[data.candidate_inventory]
        - duals.units[data.candidate_location]
        - duals.fill[ranks][data.candidate_line]
    )
    pair_reduced = objective.pair - duals.order[data.pair_order] - duals.ships[data.pair_location]
    earns = data.candidate_upper * np.minimum(reduced, 0.0)
    pair_value = np.minimum(
        pair_reduced + np.bincount(data.candidate_pair, weights=earns, minlength=data.n_pairs),
        0.0,
    )
    # z per all-or-nothing order: its reduced cost is sum over its lines of q_i * y_i
    z_reduced = np.bincount(
        data.line_order,
        weights=np.where(aon_line, data.line_quantity * duals.line, 0.0),
        minlength=data.n_orders,
    )[~data.order_allow_partial]
    # each row's dual times the bound it presses on: a line's quantity (an all-or-nothing
    # line's row is sum x - q z = 0), the stock, one location per no-split order, the
    # capacities, the fill
    limited_ships = data.location_max_shipments != UNLIMITED
    limited_units = data.location_max_units != UNLIMITED
    fill_lower = np.array([float(fill.get(p, 0)) for p in data.priorities])
    constant = (
        float(np.dot(np.where(aon_line, 0.0, duals.line), data.line_quantity))
        + float(np.dot(duals.stock, data.inventory_quantity))
        + float(duals.order[~data.order_allow_split].sum())
        + float(np.dot(duals.ships[limited_ships], data.location_max_shipments[limited_ships]))
        + float(np.dot(duals.units[limited_units], data.location_max_units[limited_units]))
        + float(np.dot(duals.fill, fill_lower))
    )
    bound = constant + float(pair_value.sum()) + float(np.minimum(z_reduced, 0.0).sum())
    return bound, Prices(
        candidate_reduced_cost=reduced, pair_reduced_cost=pair_reduced, pair_value=pair_value
    )


def _priority_rank(data: ProblemData, priority: IntArray) -> IntArray:
    """Each priority's place in ``data.priorities`` (highest first)."""
    ordered = -np.array(data.priorities, dtype=np.int64)  # ascending
    return np.searchsorted(ordered, -priority.astype(np.int64)).astype(np.int64)


def cost_bound(
    data: ProblemData,
    x: IntArray,
    *,
    deadline: float,
    per_line: int = 3,
    max_iterations: int | None = None,
    tolerance: float = 1e-6,
    master: RestrictedMaster | None = None,
    first_order_tolerance: float | None = None,
    on_round: Callable[[Prices, Duals], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[CostBound, RestrictedMaster]:
    """A proven lower bound on the cost at ``x``'s fill per priority, by column generation from
    ``x``'s candidates and each line's ``per_line`` cheapest, until no candidate prices out
    negative, ``deadline`` (a ``time.perf_counter()`` value) or ``max_iterations``.

    ``master`` (from an earlier call) is re-used from its basis, at ``x``'s fill; a new one is
    solved by PDLP to ``first_order_tolerance`` when given (see the module). ``on_round``
    hears each round's prices and duals (the search reads the prices while the bound goes on;
    the duals price the one-pass bound, :mod:`engine.line_bound`, of a master cut short before
    it returns); ``stop`` ends
    the rounds early (the bound found so far stands). Returns the bound and the master, for a
    later call at another fill.
    """
    started = time.perf_counter()
    fill = fill_by_priority(data, x)
    if master is None:
        master = RestrictedMaster(data, fill, first_order_tolerance)
        master.add(np.flatnonzero((x > 0) | (cheapness_rank(data) < per_line)))
    else:
        master.hold_fill(fill)
        master.add(np.flatnonzero(x > 0))
    generated = generate_columns(
        master,
        deadline=deadline,
        max_iterations=max_iterations,
        tolerance=tolerance,
        on_round=on_round,
        stop=stop,
    )
    best = generated.best
    return (
        CostBound(
            value=max(0.0, best) if np.isfinite(best) else 0.0,
            master_value=generated.master_value,
            fill=fill,
            converged=generated.converged,
            iterations=generated.iterations,
            columns=int((master.candidate_column >= 0).sum()),
            seconds=time.perf_counter() - started,
            prices=generated.prices,
            duals=generated.duals,
            rounds=generated.rounds,
        ),
        master,
    )


@dataclass(frozen=True)
class Generated:
    """What a column generation reached: the best Lagrangian bound of its rounds and its
    prices and duals, every round's bound and fill prices, whether the master converged."""

    best: float  # -inf when no round was solved
    prices: Prices | None
    duals: Duals | None
    rounds: tuple[tuple[float, FloatArray], ...]
    iterations: int
    converged: bool
    master_value: float


def generate_columns(
    master: RestrictedMaster,
    *,
    deadline: float,
    max_iterations: int | None = None,
    tolerance: float = 1e-6,
    on_round: Callable[[Prices, Duals], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
    settled: Callable[[float, float], bool] = lambda best, master_value: False,
) -> Generated:
    """Solve the master, price every candidate, add those that would lower its value, again,
    until none would, ``deadline``, ``max_iterations`` or ``stop()``; or until
    ``settled(best, master_value)`` (the best Lagrangian bound so far and the master's value)
    says no further round can change what the caller takes from the bound."""
    data = master.data
    best = -np.inf
    best_prices: Prices | None = None
    best_duals: Duals | None = None
    rounds: list[tuple[float, FloatArray]] = []
    iterations = 0
    converged = False
    master_value = np.nan
    if master.first_order_tolerance is not None:
        # PDLP's master value is itself only within its tolerance, and a round is slow (12 s
        # at L-seed2, cold): there, rounds 4 to 8 raised the bound by 0.06% in all, while
        # the master stayed 0.2% above it.
        tolerance = max(tolerance, 5 * master.first_order_tolerance)
    while True:
        left = deadline - time.perf_counter()
        if left <= 0.02 or (max_iterations is not None and iterations >= max_iterations):
            break
        if iterations and stop():
            break
        solved = master.solve(left)
        iterations += 1
        if not solved:
            break
        master_value = master.value()
        duals = master.row_duals()
        bound, prices, shortfall = master.price(duals)
        rounds.append((bound, duals[master.fill_row].copy()))
        element_duals = master.element_duals(duals)
        if bound > best:
            best, best_prices, best_duals = bound, prices, element_duals
        if on_round is not None:
            on_round(prices, element_duals)
        if master.optimal and settled(best, master_value):
            break
        # (a master value short of its optimum proves nothing of the LP)
        if master.optimal and bound >= master_value - tolerance * max(1.0, abs(master_value)):
            converged = True
            break
        # the pairs that would lower the master's value the most, each with its candidates
        # that earn more than they cost
        improving = np.flatnonzero(shortfall < -tolerance)
        if improving.size == 0:
            converged = master.optimal
            break
        improving = improving[np.argsort(shortfall[improving], kind="stable")]
        chosen = np.zeros(data.n_pairs, dtype=bool)
        chosen[improving[: max(2 * data.n_orders // 10, 2_000)]] = True
        entering = (
            chosen[data.candidate_pair]
            & (prices.candidate_reduced_cost < 0)
            & (master.candidate_column < 0)
        )
        if master.add(np.flatnonzero(entering)) == 0:
            break
    return Generated(
        best=float(best),
        prices=best_prices,
        duals=best_duals,
        rounds=tuple(rounds),
        iterations=iterations,
        converged=converged,
        master_value=float(master_value),
    )


def covers(bound_fill: dict[int, int], fill: dict[int, int]) -> bool:
    """Does a bound at ``bound_fill`` hold for an allocation at ``fill``? Yes when ``fill`` is at
    least as high at every priority: more fill never costs less."""
    return all(fill.get(p, 0) >= units for p, units in bound_fill.items())
