"""The LP relaxation of the brokering MIP, solved by HiGHS through highspy: bound and solve time.

The bound is the least cost of any *fractional* allocation that fills at least the given units at
each priority; every integer allocation with that fill costs at least as much, so it bounds the
cost of the optimiser (and of the greedy) at the fill they reached. The relaxation is the strong
one: a shipment variable per (order, location) pair with one linking row per candidate
(``x[c] <= upper[c] * y[pair]``), not one aggregated row per pair, which would bound far lower.

The matrix is assembled from the problem arrays with numpy and handed to HiGHS in one call, so the
time reported is HiGHS' own, not a Python model builder's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from engine.problem import UNLIMITED, ProblemData


@dataclass
class LpBound:
    """Result of one LP: the bound (None if HiGHS did not reach optimality) and the times."""

    bound: float | None
    status: str
    build_seconds: float
    solve_seconds: float
    n_columns: int
    n_rows: int
    n_nonzeros: int


def lp_cost_bound(
    data: ProblemData, min_fill: dict[int, int], time_limit_s: float = 600.0, threads: int = 0
) -> LpBound:
    """Least fractional cost with at least ``min_fill[p]`` units at each priority p."""
    return lp_cost_bounds(data, [min_fill], time_limit_s, threads)[0]


def lp_cost_bounds(
    data: ProblemData,
    fills: Sequence[dict[int, int]],
    time_limit_s: float = 600.0,
    threads: int = 0,
) -> list[LpBound]:
    """The LP bound at each of several fills: built once, re-solved from the previous basis.

    Only the fill rows' lower bounds change between fills, so each solve after the first starts
    from the last optimal basis (dual simplex warm start) instead of from scratch.

    Columns: x per candidate (units), y per pair with more than one candidate (shipment, in
    [0, 1]; a one-candidate pair's shipment is x / upper), z per all-or-nothing order (served,
    in [0, 1]). ``threads`` 0 lets HiGHS choose. ``time_limit_s`` applies to each solve.
    """
    if not fills:
        return []
    min_fill = fills[0]
    started = time.perf_counter()
    nc = data.n_candidates
    # A pair with one candidate needs no shipment column: y = x / upper is what the LP picks
    # anyway (y only costs and only appears in <= rows), so substituting it is exact. That
    # removes most columns and linking rows (most pairs serve one line), which is what lets
    # HiGHS finish at M at all.
    pair_candidates = np.bincount(data.candidate_pair, minlength=data.n_pairs)
    multi = np.flatnonzero(pair_candidates > 1)
    nk = multi.size
    ship_col = np.empty(data.n_pairs, dtype=np.int64)  # column carrying the pair's shipment
    ship_coef = np.ones(data.n_pairs, dtype=np.float64)  # its coefficient
    ship_col[multi] = nc + np.arange(nk)
    single_cand = np.flatnonzero(pair_candidates[data.candidate_pair] == 1)
    single_pair = data.candidate_pair[single_cand]
    ship_col[single_pair] = single_cand
    single_upper = data.candidate_upper[single_cand].astype(np.float64)
    # upper 0 (a location with max_units 0): x is fixed at 0, and so is the shipment.
    per_unit = np.divide(1.0, single_upper, out=np.zeros_like(single_upper), where=single_upper > 0)
    ship_coef[single_pair] = per_unit
    no_partial = np.flatnonzero(~data.order_allow_partial)
    z_of_order = np.full(data.n_orders, -1, dtype=np.int64)
    z_of_order[no_partial] = nc + nk + np.arange(no_partial.size)
    n_columns = nc + nk + no_partial.size
    cand = np.arange(nc)

    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    n_rows = 0

    def add(
        rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, lower: np.ndarray, upper: np.ndarray
    ) -> None:
        # rows are local (0..len(lower)-1); shift them after the rows added so far.
        nonlocal n_rows
        blocks.append((rows + n_rows, cols, vals.astype(np.float64), lower, upper))
        n_rows += lower.size

    # Stock per inventory row with candidates.
    rows_used, row_of_cand = np.unique(data.candidate_inventory, return_inverse=True)
    add(
        row_of_cand,
        cand,
        np.ones(nc),
        np.full(rows_used.size, -np.inf),
        data.inventory_quantity[rows_used].astype(np.float64),
    )
    # Quantity per line with candidates.
    lines_used, line_of_cand = np.unique(data.candidate_line, return_inverse=True)
    add(
        line_of_cand,
        cand,
        np.ones(nc),
        np.full(lines_used.size, -np.inf),
        data.line_quantity[lines_used].astype(np.float64),
    )
    # Linking, for pairs with a shipment column: x[c] - upper[c] y[pair] <= 0.
    linked = np.flatnonzero(pair_candidates[data.candidate_pair] > 1)
    local = np.arange(linked.size)
    add(
        np.concatenate([local, local]),
        np.concatenate([linked, ship_col[data.candidate_pair[linked]]]),
        np.concatenate([np.ones(linked.size), -data.candidate_upper[linked].astype(np.float64)]),
        np.full(linked.size, -np.inf),
        np.zeros(linked.size),
    )
    # No split: the order's shipments sum to at most 1.
    no_split_pair = np.flatnonzero(~data.order_allow_split[data.pair_order])
    if no_split_pair.size:
        orders_used, order_row = np.unique(data.pair_order[no_split_pair], return_inverse=True)
        add(
            order_row,
            ship_col[no_split_pair],
            ship_coef[no_split_pair],
            np.full(orders_used.size, -np.inf),
            np.ones(orders_used.size),
        )
    # All or nothing: each line's units == its quantity * z[order] (lines without candidates force z = 0).
    aon_lines = np.flatnonzero(~data.order_allow_partial[data.line_order])
    if aon_lines.size:
        line_row = np.full(data.n_lines, -1, dtype=np.int64)
        line_row[aon_lines] = np.arange(aon_lines.size)
        aon_cand = np.flatnonzero(line_row[data.candidate_line] >= 0)
        add(
            np.concatenate([line_row[data.candidate_line[aon_cand]], np.arange(aon_lines.size)]),
            np.concatenate([aon_cand, z_of_order[data.line_order[aon_lines]]]),
            np.concatenate(
                [np.ones(aon_cand.size), -data.line_quantity[aon_lines].astype(np.float64)]
            ),
            np.zeros(aon_lines.size),
            np.zeros(aon_lines.size),
        )
    # Capacities per location.
    capped_ships = np.flatnonzero(data.location_max_shipments != UNLIMITED)
    if capped_ships.size:
        ship_row = np.full(data.n_locations, -1, dtype=np.int64)
        ship_row[capped_ships] = np.arange(capped_ships.size)
        pairs = np.flatnonzero(ship_row[data.pair_location] >= 0)
        add(
            ship_row[data.pair_location[pairs]],
            ship_col[pairs],
            ship_coef[pairs],
            np.full(capped_ships.size, -np.inf),
            data.location_max_shipments[capped_ships].astype(np.float64),
        )
    capped_units = np.flatnonzero(data.location_max_units != UNLIMITED)
    if capped_units.size:
        unit_row = np.full(data.n_locations, -1, dtype=np.int64)
        unit_row[capped_units] = np.arange(capped_units.size)
        cands = np.flatnonzero(unit_row[data.candidate_location] >= 0)
        add(
            unit_row[data.candidate_location[cands]],
            cands,
            np.ones(cands.size),
            np.full(capped_units.size, -np.inf),
            data.location_max_units[capped_units].astype(np.float64),
        )
    # Fill per priority at least what was reached (the first fill's; later ones change bounds).
    priorities = sorted({p for fill in fills for p in fill})
    prio_row = {p: i for i, p in enumerate(priorities)}
    cand_prio = data.line_priority[data.candidate_line]
    known = np.isin(cand_prio, priorities)
    add(
        np.array([prio_row[int(p)] for p in cand_prio[known]], dtype=np.int64)
        if known.any()
        else np.empty(0, np.int64),
        cand[known],
        np.ones(int(known.sum())),
        np.array([float(min_fill.get(p, 0)) for p in priorities]),
        np.full(len(priorities), np.inf),
    )

    matrix = sp.csc_matrix(
        (
            np.concatenate([b[2] for b in blocks]),
            (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])),
        ),
        shape=(n_rows, n_columns),
    )
    lp = highspy.HighsLp()
    lp.num_col_ = n_columns
    lp.num_row_ = n_rows
    x_cost = data.location_unit_cost[data.candidate_location].astype(np.float64)
    x_cost[single_cand] += data.pair_cost[single_pair] * per_unit
    lp.col_cost_ = np.concatenate([x_cost, data.pair_cost[multi], np.zeros(no_partial.size)])
    lp.col_lower_ = np.zeros(n_columns)
    lp.col_upper_ = np.concatenate(
        [data.candidate_upper.astype(np.float64), np.ones(nk), np.ones(no_partial.size)]
    )
    lp.row_lower_ = np.concatenate([b[3] for b in blocks]).astype(np.float64)
    lp.row_upper_ = np.concatenate([b[4] for b in blocks]).astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data
    lp.a_matrix_.num_col_ = n_columns
    lp.a_matrix_.num_row_ = n_rows
    n_nonzeros = int(matrix.nnz)
    del matrix
    blocks.clear()

    fill_rows = {p: n_rows - len(priorities) + i for i, p in enumerate(priorities)}
    if n_columns == 0:  # nothing can be allocated: HiGHS calls this model "empty"
        return [
            LpBound(
                bound=0.0 if all(v <= 0 for v in fill.values()) else None,
                status="empty",
                build_seconds=time.perf_counter() - started,
                solve_seconds=0.0,
                n_columns=0,
                n_rows=n_rows,
                n_nonzeros=0,
            )
            for fill in fills
        ]
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit_s))
    if threads:
        highs.setOptionValue("threads", int(threads))
    highs.passModel(lp)
    build_seconds = time.perf_counter() - started
    results = []
    for fill in fills:
        for priority, row in fill_rows.items():
            highs.changeRowBounds(row, float(fill.get(priority, 0)), highspy.kHighsInf)
        # HiGHS' time limit counts the object's whole run time: give each solve its own.
        highs.setOptionValue("time_limit", highs.getRunTime() + float(time_limit_s))
        solve_started = time.perf_counter()
        highs.run()
        solve_seconds = time.perf_counter() - solve_started
        status = highs.getModelStatus()
        optimal = status == highspy.HighsModelStatus.kOptimal
        results.append(
            LpBound(
                bound=float(highs.getInfo().objective_function_value) if optimal else None,
                status=highs.modelStatusToString(status),
                build_seconds=build_seconds,
                solve_seconds=solve_seconds,
                n_columns=n_columns,
                n_rows=n_rows,
                n_nonzeros=n_nonzeros,
            )
        )
        build_seconds = 0.0  # built once
    return results
