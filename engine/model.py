"""The allocation MIP as sparse arrays: one function per constraint family of the contract.

Columns: ``x[c]`` units of candidate c (integer, 0..candidate_upper), then ``y[k]`` whether pair k
(an order, location shipment) is used (binary), then ``z[o]`` whether an all-or-nothing order is
served (binary). Rows are built as COO triplets from numpy arrays, never a Python loop per variable,
and handed to the solver in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from engine.problem import UNLIMITED, FloatArray, IntArray, ProblemData


@dataclass(frozen=True)
class Rows:
    """A block of constraints ``lower <= A @ v <= upper`` in COO form."""

    row: IntArray
    col: IntArray
    value: FloatArray
    lower: FloatArray
    upper: FloatArray

    @property
    def n_rows(self) -> int:
        return int(self.lower.size)


@dataclass(frozen=True)
class AllocationModel:
    """The MIP over one problem: bounds, integrality and constraints; objectives are per stage."""

    n_x: int
    n_y: int
    n_z: int
    partial_free_orders: IntArray  # order index of each z column
    lower: FloatArray
    upper: FloatArray
    matrix: sp.csr_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    fill_rows: dict[int, int]  # priority -> row index of its "fill >= F" row
    # y columns whose integrality matters for fill (no-split orders, locations with
    # max_shipments); the others only carry cost, so fill stages may relax them.
    y_bound_by_fill: npt.NDArray[np.bool_]

    @property
    def n_columns(self) -> int:
        return self.n_x + self.n_y + self.n_z

    def integrality(self, stage: str) -> npt.NDArray[np.bool_]:
        """Which columns are integer in a stage: all for cost; for fill, y only where it binds."""
        y = np.ones(self.n_y, bool) if stage == "cost" else self.y_bound_by_fill
        return np.concatenate([np.ones(self.n_x, bool), y, np.ones(self.n_z, bool)])

    def columns_of(self, data: ProblemData, x: IntArray) -> FloatArray:
        """A full column vector for allocation ``x``: its shipments and served orders set."""
        pair_units = np.bincount(data.candidate_pair, weights=x, minlength=self.n_y)
        order_units = np.bincount(
            data.line_order[data.candidate_line], weights=x, minlength=data.n_orders
        )
        served = (order_units[self.partial_free_orders] > 0).astype(np.float64)
        return np.concatenate([x.astype(np.float64), (pair_units > 0).astype(np.float64), served])


def allocation_is_feasible(
    data: ProblemData, model: AllocationModel, x: IntArray, row_lower: FloatArray
) -> bool:
    """Does allocation ``x`` (with its shipments and served orders) satisfy every row and bound?

    Solvers return what they believe feasible within their tolerances; this is the engine's own
    check of what it is about to promise.
    """
    columns = model.columns_of(data, x)
    if np.any(columns < model.lower - 1e-9) or np.any(columns > model.upper + 1e-9):
        return False
    activity = model.matrix @ columns
    return bool(np.all(activity >= row_lower - 1e-6) and np.all(activity <= model.row_upper + 1e-6))


def _empty_rows() -> Rows:
    empty_i = np.empty(0, np.int64)
    empty_f = np.empty(0, np.float64)
    return Rows(empty_i, empty_i, empty_f, empty_f, empty_f)


def line_demand_rows(data: ProblemData, z_of_order: IntArray, z_offset: int) -> Rows:
    """Rule 1 (no line gets more than its quantity) and rule 3 (all-or-nothing).

    A line of a partial order: ``sum x <= quantity``. A line of an all-or-nothing order:
    ``sum x - quantity * z[order] = 0``: every line full, or the order gets nothing.
    """
    lines = np.arange(data.n_lines, dtype=np.int64)
    z_col = z_of_order[data.line_order]
    all_or_nothing = z_col >= 0
    quantity = data.line_quantity.astype(np.float64)
    x_part = (data.candidate_line, np.arange(data.n_candidates, dtype=np.int64))
    z_lines = lines[all_or_nothing]
    row = np.concatenate([x_part[0], z_lines])
    col = np.concatenate([x_part[1], z_offset + z_col[all_or_nothing]])
    value = np.concatenate([np.ones(data.n_candidates), -quantity[all_or_nothing]])
    lower = np.where(all_or_nothing, 0.0, -np.inf)
    upper = np.where(all_or_nothing, 0.0, quantity)
    return Rows(row, col, value, lower, upper)


def stock_rows(data: ProblemData) -> Rows:
    """Rule 1: no location gives more of a sku than its inventory (one row per inventory row)."""
    used_rows, row = np.unique(data.candidate_inventory, return_inverse=True)
    quantity = data.inventory_quantity[used_rows].astype(np.float64)
    return Rows(
        row.reshape(-1).astype(np.int64),
        np.arange(data.n_candidates, dtype=np.int64),
        np.ones(data.n_candidates),
        np.full(used_rows.size, -np.inf),
        quantity,
    )


def shipment_link_rows(data: ProblemData, y_offset: int) -> Rows:
    """A candidate carries units only if its shipment is used: ``x[c] <= upper[c] * y[k]``."""
    n = data.n_candidates
    rows = np.arange(n, dtype=np.int64)
    return Rows(
        np.concatenate([rows, rows]),
        np.concatenate([rows, y_offset + data.candidate_pair]),
        np.concatenate([np.ones(n), -data.candidate_upper.astype(np.float64)]),
        np.full(n, -np.inf),
        np.zeros(n),
    )


def no_split_rows(data: ProblemData, y_offset: int) -> Rows:
    """Rule 3: an order with ``allow_split`` false uses at most one location."""
    pair_no_split = ~data.order_allow_split[data.pair_order]
    orders, row = np.unique(data.pair_order[pair_no_split], return_inverse=True)
    if orders.size == 0:
        return _empty_rows()
    pairs = np.flatnonzero(pair_no_split)
    return Rows(
        row.reshape(-1).astype(np.int64),
        y_offset + pairs,
        np.ones(pairs.size),
        np.full(orders.size, -np.inf),
        np.ones(orders.size),
    )


def shipment_capacity_rows(data: ProblemData, y_offset: int) -> Rows:
    """Rule 4: a location's shipments (pickup orders included) stay within ``max_shipments``."""
    return _capacity_rows(data.pair_location, data.location_max_shipments, y_offset)


def unit_capacity_rows(data: ProblemData) -> Rows:
    """Rule 4: a location's units stay within ``max_units``."""
    return _capacity_rows(data.candidate_location, data.location_max_units, 0)


def _capacity_rows(column_location: IntArray, capacity: IntArray, column_offset: int) -> Rows:
    """``sum of the columns at a location <= its capacity``, for capacitated locations only."""
    columns = np.flatnonzero(capacity[column_location] != UNLIMITED)
    if columns.size == 0:
        return _empty_rows()
    locations, row = np.unique(column_location[columns], return_inverse=True)
    return Rows(
        row.reshape(-1).astype(np.int64),
        column_offset + columns,
        np.ones(columns.size),
        np.full(locations.size, -np.inf),
        capacity[locations].astype(np.float64),
    )


def fill_rows(data: ProblemData) -> tuple[Rows, dict[int, int]]:
    """One row per priority, ``sum x >= F``: the fill a stage reached, held by the later stages.

    Built free (``F = -inf``); a stage tightens its row once its priority is solved.
    """
    priorities = data.priorities
    position = {p: i for i, p in enumerate(priorities)}
    line_priority = data.line_priority[data.candidate_line]
    # priorities are sorted highest first, so the rank of -p in -priorities is p's row
    rank = np.searchsorted(-np.array(priorities, dtype=np.int64), -line_priority)
    return (
        Rows(
            rank.astype(np.int64),
            np.arange(data.n_candidates, dtype=np.int64),
            np.ones(data.n_candidates),
            np.full(len(priorities), -np.inf),
            np.full(len(priorities), np.inf),
        ),
        position,
    )


def build_model(data: ProblemData) -> AllocationModel:
    """Every constraint family stacked into one sparse matrix."""
    n_x, n_y = data.n_candidates, data.n_pairs
    partial_free = np.flatnonzero(~data.order_allow_partial).astype(np.int64)
    z_of_order = np.full(data.n_orders, -1, dtype=np.int64)
    z_of_order[partial_free] = np.arange(partial_free.size, dtype=np.int64)
    n_z = int(partial_free.size)
    y_offset, z_offset = n_x, n_x + n_y

    fill, fill_position = fill_rows(data)
    blocks = [
        line_demand_rows(data, z_of_order, z_offset),
        stock_rows(data),
        shipment_link_rows(data, y_offset),
        no_split_rows(data, y_offset),
        shipment_capacity_rows(data, y_offset),
        unit_capacity_rows(data),
        fill,
    ]
    rows, cols, values, lowers, uppers = [], [], [], [], []
    offset = 0
    for block in blocks:
        rows.append(block.row + offset)
        cols.append(block.col)
        values.append(block.value)
        lowers.append(block.lower)
        uppers.append(block.upper)
        offset += block.n_rows
    fill_start = offset - fill.n_rows
    n_columns = n_x + n_y + n_z
    matrix = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(offset, n_columns),
    )
    lower = np.zeros(n_columns)
    upper = np.concatenate([data.candidate_upper.astype(np.float64), np.ones(n_y), np.ones(n_z)])
    return AllocationModel(
        n_x=n_x,
        n_y=n_y,
        n_z=n_z,
        partial_free_orders=partial_free,
        lower=lower,
        upper=upper,
        matrix=matrix,
        row_lower=np.concatenate(lowers),
        row_upper=np.concatenate(uppers),
        fill_rows={p: fill_start + i for p, i in fill_position.items()},
        y_bound_by_fill=~data.order_allow_split[data.pair_order]
        | (data.location_max_shipments[data.pair_location] != UNLIMITED),
    )


def cost_objective(data: ProblemData, model: AllocationModel) -> FloatArray:
    """Total cost: each used shipment's cost plus each unit's handling cost."""
    objective = np.zeros(model.n_columns)
    objective[: model.n_x] = data.location_unit_cost[data.candidate_location]
    objective[model.n_x : model.n_x + model.n_y] = data.pair_cost
    return objective


def fill_objective(
    data: ProblemData, model: AllocationModel, priority: int, *, tie_break: bool = True
) -> FloatArray:
    """Units allocated to the orders of one priority (to be maximised), less a tie-break.

    The tie-break is the cost scaled so that the whole of it stays under ``FILL_TIE_BREAK``
    units: it can never buy a unit of fill (fill is integral), but among the allocations of
    equal fill it prefers the cheaper, which gives the cost stage a good start and a time-limited
    answer a sensible cost.
    """
    if not tie_break:
        objective = np.zeros(model.n_columns)
        objective[: model.n_x] = data.line_priority[data.candidate_line] == priority
        return objective
    cost = cost_objective(data, model)
    most_cost = float(
        np.sum(cost[: model.n_x] * model.upper[: model.n_x]) + cost[model.n_x :].sum()
    )
    objective = -cost * (FILL_TIE_BREAK / max(most_cost, 1.0))
    objective[: model.n_x] += (data.line_priority[data.candidate_line] == priority).astype(float)
    return objective


# The most a fill stage's cost tie-break may weigh, in units of fill.
FILL_TIE_BREAK = 0.01


@dataclass(frozen=True)
class ReducedModel:
    """A stage's model with the columns fixed at zero left out (and, for an LP, the shipment
    of every single-candidate pair substituted), small enough to hand to a solver quickly.

    ``expand`` maps a solution back to the full model's columns.
    """

    columns: IntArray  # full-model index of each kept column
    lower: FloatArray
    upper: FloatArray
    objective: FloatArray
    matrix: sp.csr_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    to_full: sp.csr_matrix  # full columns = to_full @ reduced columns

    def expand(self, values: FloatArray) -> FloatArray:
        return np.asarray(self.to_full @ values, dtype=np.float64)


def reduce_model(
    data: ProblemData,
    model: AllocationModel,
    objective: FloatArray,
    row_lower: FloatArray,
    upper: FloatArray,
    *,
    substitute_single_shipments: bool = False,
) -> ReducedModel:
    """Leave out the columns whose upper bound is zero; drop the rows left empty.

    With ``substitute_single_shipments`` (LP relaxations only), the shipment ``y`` of a pair with
    one candidate is replaced by ``x / upper(x)``: at an LP optimum that is its value anyway (its
    only link row is ``x <= upper * y`` and it never pays to raise ``y`` above), so the bound is
    exact, and the LP loses most of its columns and link rows.
    """
    n_full = model.n_columns
    kept = upper > 0
    substitute = np.zeros(n_full, dtype=bool)
    source_x = np.full(model.n_y, -1, dtype=np.int64)
    if substitute_single_shipments and model.n_y:
        per_pair = np.bincount(data.candidate_pair, minlength=model.n_y)
        source_x[data.candidate_pair] = np.arange(data.n_candidates, dtype=np.int64)
        single = (per_pair == 1) & kept[source_x.clip(min=0)] & (source_x >= 0)
        substitute[model.n_x : model.n_x + model.n_y] = single
    kept &= ~substitute
    columns = np.flatnonzero(kept).astype(np.int64)
    new_index = np.full(n_full, -1, dtype=np.int64)
    new_index[columns] = np.arange(columns.size, dtype=np.int64)

    # to_full: identity on kept columns; substituted y_k = x_c / upper(x_c)
    rows = [columns]
    cols = [new_index[columns]]
    values = [np.ones(columns.size)]
    substituted_y = np.flatnonzero(substitute)
    if substituted_y.size:
        x_of_y = source_x[substituted_y - model.n_x]
        rows.append(substituted_y)
        cols.append(new_index[x_of_y])
        values.append(1.0 / np.maximum(upper[x_of_y], 1.0))
    to_full = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_full, columns.size),
    )
    matrix = sp.csr_matrix(model.matrix @ to_full)
    matrix.data[np.abs(matrix.data) < 1e-12] = 0.0  # x - upper * (x / upper) on link rows
    matrix.eliminate_zeros()
    # Drop rows left empty, unless an empty row would be infeasible (then keep it to say so).
    nonempty = np.diff(matrix.indptr) > 0
    satisfiable_empty = (row_lower <= 1e-9) & (model.row_upper >= -1e-9)
    keep_rows = np.flatnonzero(nonempty | ~satisfiable_empty)
    return ReducedModel(
        columns=columns,
        lower=model.lower[columns],
        upper=upper[columns],
        objective=np.asarray(to_full.T @ objective, dtype=np.float64),
        matrix=sp.csr_matrix(matrix[keep_rows]),
        row_lower=row_lower[keep_rows],
        row_upper=model.row_upper[keep_rows],
        to_full=to_full,
    )
