"""One solve of the optimiser's sequence, against one model: LP relaxation, restricted MIPs, the
full MIP, each checked before it is trusted.

:class:`StageSolver` holds the model of a problem and the fill rows the earlier stages fixed; the
optimiser runs its fill and cost stages through it, and the neighbourhood search runs its small
MIPs through it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.linear_solver.python import model_builder_helper as mbh

from engine.backends import BACKENDS
from engine.model import (
    AllocationModel,
    ReducedModel,
    allocation_is_feasible,
    build_model,
    reduce_model,
)
from engine.problem import BoolArray, FloatArray, IntArray, ProblemData

# No solve starts with less time than this left: building and presolving would outrun it.
MIN_SOLVE_S = 0.2
# The full MIP is not attempted beyond this many columns: SCIP neither solves nor proves such a
# model in the seconds a batch allows; the restricted answers stand, reported as feasible.
FULL_MIP_MAX_COLUMNS = 250_000


@dataclass(frozen=True)
class StageReport:
    """One solve of the sequence: what it optimised, how it ended, what it cost."""

    name: str  # "fill:<priority>" or "cost"
    status: str  # "optimal", "feasible", "skipped", "no_solution"
    objective: float
    bound: float
    seconds: float


class StageSolver:
    """Runs the stage sequence against one model, sharing the deadline."""

    def __init__(
        self, data: ProblemData, backend: str, deadline: float, *, min_solve_s: float = MIN_SOLVE_S
    ):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.data = data
        self.backend = backend
        self.deadline = deadline
        self.min_solve_s = min_solve_s
        self.model: AllocationModel = build_model(data)
        self.row_lower = self.model.row_lower.copy()
        self.reports: list[StageReport] = []

    def remaining_s(self) -> float:
        return self.deadline - time.perf_counter()

    def hold_fill(self, priority: int, units: int) -> None:
        self.row_lower[self.model.fill_rows[priority]] = float(units)

    def solve(
        self,
        name: str,
        objective: FloatArray,
        *,
        maximize: bool,
        gap: float,
        abs_gap: float,
        upper: FloatArray | None = None,
        time_limit_s: float | None = None,
        max_columns: int = 1 << 62,
    ) -> tuple[IntArray | None, float, float, bool]:
        """One MIP solve. Returns (x or None, objective, bound, proven within the gap).

        No warm start is passed: OR-Tools' HiGHS wrapper drops hints (it sizes its hint vector
        to zero), and with a hint its SCIP wrapper was seen returning fractional "solutions".
        :meth:`solve_guided` gets the same effect by keeping the start's support in the model.
        """
        started = time.perf_counter()
        model = self.model
        stage = "cost" if name.startswith("cost") else "fill"
        limit = self.remaining_s() if time_limit_s is None else time_limit_s
        reduced = reduce_model(
            self.data, model, objective, self.row_lower, model.upper if upper is None else upper
        )
        if limit < self.min_solve_s or reduced.columns.size > max_columns:
            # Building and presolving alone would outrun the time left: not worth starting.
            self.reports.append(StageReport(name, "skipped", float("nan"), float("nan"), 0.0))
            return None, float("nan"), float("nan"), False
        mb_model = _mb_model(reduced, model.integrality(stage)[reduced.columns], maximize)
        solver = mbh.ModelSolverHelper(self.backend)
        solver.set_time_limit_in_seconds(_solver_time(limit, reduced))
        solver.set_solver_specific_parameters(_parameters(self.backend, gap, abs_gap))
        solver.solve(mb_model)
        status = solver.status()
        seconds = time.perf_counter() - started
        if status not in (mbh.SolveStatus.OPTIMAL, mbh.SolveStatus.FEASIBLE) or not (
            solver.has_solution()
        ):
            self.reports.append(
                StageReport(name, "no_solution", float("nan"), float("nan"), seconds)
            )
            return None, float("nan"), float("nan"), False
        values = reduced.expand(np.asarray(solver.variable_values(), dtype=np.float64).reshape(-1))
        x = np.rint(values[: model.n_x]).astype(np.int64)
        if not allocation_is_feasible(self.data, model, x, self.row_lower) or (
            upper is not None and np.any(x > upper[: model.n_x] + 1e-9)
        ):
            # Seen with OR-Tools' SCIP when a hint is given: a "solution" with fractional
            # integers. Never promise it; the caller goes on without it.
            self.reports.append(
                StageReport(name, "invalid_solution", float("nan"), float("nan"), seconds)
            )
            return None, float("nan"), float("nan"), False
        optimal = status == mbh.SolveStatus.OPTIMAL
        # The objective of the allocation actually returned (y and z derived from x).
        value = float(objective @ model.columns_of(self.data, x))
        bound = self._bound(solver, value, optimal, maximize, gap, abs_gap)
        self.reports.append(
            StageReport(name, "optimal" if optimal else "feasible", value, bound, seconds)
        )
        return x, value, bound, optimal

    def value_of(self, objective: FloatArray, x: IntArray) -> float:
        """An objective's value at allocation ``x`` (its shipments and served orders derived)."""
        return float(objective @ self.model.columns_of(self.data, x))

    def relax(
        self, objective: FloatArray, maximize: bool, upper: FloatArray
    ) -> tuple[FloatArray, float] | None:
        """The LP relaxation (HiGHS' simplex): column values and its optimum, a proven bound."""
        started = time.perf_counter()
        if self.remaining_s() < self.min_solve_s:
            self.reports.append(StageReport("lp", "skipped", float("nan"), float("nan"), 0.0))
            return None
        reduced = reduce_model(
            self.data,
            self.model,
            objective,
            self.row_lower,
            upper,
            substitute_single_shipments=True,
        )
        relaxed = _mb_model(reduced, None, maximize)
        solver = mbh.ModelSolverHelper("highs")
        solver.set_time_limit_in_seconds(_solver_time(self.remaining_s(), reduced))
        # dual simplex: measured fastest here on these LPs (IPM and PDLP far slower)
        solver.set_solver_specific_parameters("output_flag=false\nsimplex_strategy=1")
        solver.solve(relaxed)
        status = solver.status()
        seconds = time.perf_counter() - started
        if status != mbh.SolveStatus.OPTIMAL or not solver.has_solution():
            self.reports.append(
                StageReport("lp", "no_solution", float("nan"), float("nan"), seconds)
            )
            return None
        value = float(solver.objective_value())
        self.reports.append(StageReport("lp", "optimal", value, value, seconds))
        return reduced.expand(
            np.asarray(solver.variable_values(), dtype=np.float64).reshape(-1)
        ), value

    def solve_guided(
        self,
        name: str,
        objective: FloatArray,
        *,
        maximize: bool,
        gap: float,
        abs_gap: float,
        start: IntArray,
        upper: FloatArray | None = None,
        full_time_share: float = 1.0,
        lp_objective: FloatArray | None = None,
        neighbourhood: BoolArray | None = None,
        restricted_abs_gap: float | None = None,
        with_support: BoolArray | None = None,
        share_after_relaxation: tuple[float, float] | None = None,
        relaxation: Callable[[], tuple[FloatArray, float] | None] | None = None,
    ) -> tuple[IntArray | None, float, float, bool]:
        """A stage solved from small models to the full one, each step only if still needed.

        1. The LP relaxation: a proven bound, and a support.
        2. A MIP over the LP's support and the start allocation's (so it is feasible): it
           usually meets the LP bound within the gap, which proves it.
        3. With a ``neighbourhood`` (candidates worth trying, e.g. each line's cheapest), the
           same MIP with those added, for a better answer.
        4. Only if still unproven, the full MIP, with ``full_time_share`` of the time left.

        (A MIP over a neighbourhood alone, before the LP, was tried: without a warm start,
        which OR-Tools' wrappers do not pass reliably, SCIP found no solution in time.)

        Nothing is pruned for good: the full model stays the reference for bound and proof.
        ``lp_objective`` (default: ``objective``) is what the LP and the full MIP optimise and
        what the proof compares; only the restricted MIPs carry a fill stage's cost tie-break,
        which would slow the LP and the proof down. ``restricted_abs_gap`` (default:
        ``abs_gap``) is the restricted MIPs' own: a fill stage asks them for the cheapest of its
        fullest allocations, which the proof's gap of almost a unit would not; and
        ``with_support`` candidates join the LP's support in the first of them (a fill LP's
        support is any fullest allocation, a costly one as likely as not).
        ``share_after_relaxation`` (a share, a deadline): once the LP is solved (by the solver's
        deadline as it stands; if it is not, nothing changes), the stage gets that share of the
        time left until that deadline (the rest goes back to the caller): a share of the time
        taken before the LP starves the MIPs wherever the LP is slow.
        ``relaxation``: the same LP solved elsewhere (the batch's column-generated master, moved
        to this stage's fill: a few hundredths of a second where this model's LP takes one on
        a slow machine), its units per candidate and a proven bound on ``lp_objective``; when it
        returns None, the stage solves its own.
        Returns (x, value, bound, proven).
        """
        model = self.model
        full_upper = model.upper if upper is None else upper
        proof_objective = objective if lp_objective is None else lp_objective
        best: tuple[IntArray, float] | None = None

        def restricted(label: str, keep_x: BoolArray, time_share: float) -> None:
            nonlocal best, start
            x, _value, _bound, _optimal = self.solve(
                f"{name}:{label}",
                objective,
                maximize=maximize,
                gap=gap,
                abs_gap=abs_gap if restricted_abs_gap is None else restricted_abs_gap,
                upper=np.where(self.columns_of_candidates(keep_x | (start > 0)), full_upper, 0.0),
                time_limit_s=self.remaining_s() * time_share,
            )
            if x is not None:
                value = self.value_of(proof_objective, x)
                if best is None or _better(value, best[1], maximize):
                    best, start = (x, value), x

        relaxed = self._relaxed_elsewhere(relaxation)
        if relaxed is None:
            relaxed = self.relax(proof_objective, maximize, full_upper)
        if relaxed is not None and share_after_relaxation is not None:
            # (an LP cut short by the clock leaves the time to the caller: no MIP of the whole
            # stage fits where its LP did not)
            share, until = share_after_relaxation
            now = time.perf_counter()
            self.deadline = now + max(0.0, until - now) * share
        lp_bound = float("inf") if maximize else 0.0
        if relaxed is not None:
            values, lp_bound = relaxed
            start_value = self.value_of(proof_objective, start)
            if _within(start_value, lp_bound, maximize, gap, abs_gap) and self._admits(
                start, full_upper
            ):
                # The start already meets the bound: nothing to solve (in the neighbourhood
                # search, most fill stages end here).
                self.reports.append(
                    StageReport(f"{name}:start", "optimal", start_value, lp_bound, 0.0)
                )
                return start, start_value, lp_bound, True
            lp_support = values[: model.n_x] > 1e-7
            if with_support is not None:
                lp_support |= with_support
            restricted("lp-support", lp_support, 1.0)
            if best is not None and _within(best[1], lp_bound, maximize, gap, abs_gap):
                return best[0], best[1], lp_bound, True
            if neighbourhood is not None:
                restricted("lp-support+neighbourhood", lp_support | neighbourhood, 0.6)
                if best is not None and _within(best[1], lp_bound, maximize, gap, abs_gap):
                    return best[0], best[1], lp_bound, True
        x, value, bound, optimal = self.solve(
            name,
            proof_objective,
            maximize=maximize,
            gap=gap,
            abs_gap=abs_gap,
            upper=upper,
            time_limit_s=self.remaining_s() * full_time_share,
            max_columns=FULL_MIP_MAX_COLUMNS,
        )
        if x is None or not np.isfinite(bound):
            bound = lp_bound
        else:
            bound = min(bound, lp_bound) if maximize else max(bound, lp_bound)
        # On a tie a restricted answer wins: its tie-break made it the cheaper one.
        if best is not None and (x is None or not _better(value, best[1], maximize)):
            return best[0], best[1], bound, _within(best[1], bound, maximize, gap, abs_gap)
        return x, value, bound, optimal

    def _relaxed_elsewhere(
        self, relaxation: Callable[[], tuple[FloatArray, float] | None] | None
    ) -> tuple[FloatArray, float] | None:
        """The stage's LP from ``relaxation``, reported as ``lp:master``; None without one."""
        if relaxation is None:
            return None
        started = time.perf_counter()
        relaxed = relaxation()
        seconds = time.perf_counter() - started
        if relaxed is None:
            self.reports.append(
                StageReport("lp:master", "no_solution", float("nan"), float("nan"), seconds)
            )
            return None
        self.reports.append(StageReport("lp:master", "optimal", relaxed[1], relaxed[1], seconds))
        return relaxed

    def _admits(self, x: IntArray, upper: FloatArray) -> bool:
        """Is ``x`` an allocation of this stage's model (rows held so far, ``upper``)?"""
        return bool(np.all(x <= upper[: self.model.n_x] + 1e-9)) and allocation_is_feasible(
            self.data, self.model, x, self.row_lower
        )

    def columns_of_candidates(self, keep_x: BoolArray) -> BoolArray:
        """Columns to keep for a set of candidates: theirs, their shipments', every z."""
        model = self.model
        keep_pair = np.bincount(self.data.candidate_pair, weights=keep_x, minlength=model.n_y) > 0
        return np.concatenate([keep_x, keep_pair, np.ones(model.n_z, dtype=bool)])

    def _bound(
        self,
        solver: mbh.ModelSolverHelper,
        value: float,
        optimal: bool,
        maximize: bool,
        gap: float,
        abs_gap: float,
    ) -> float:
        """A proven bound on the stage's objective, or nan when the solver proved none.

        SCIP and CP-SAT report their dual bound. OR-Tools' HiGHS wrapper reports the incumbent's
        value as the bound, which proves nothing, so for HiGHS the bound comes from HiGHS' own
        stopping rule when it proved optimality within the gap; otherwise the caller falls back
        on the LP relaxation's.
        """
        if self.backend != "highs":
            bound = float(solver.best_objective_bound())
            if np.isfinite(bound):
                return bound
        if optimal:
            slack = max(gap * abs(value), abs_gap) if maximize else gap * abs(value)
            return value + slack if maximize else value - slack
        return float("nan")


def _mb_model(
    reduced: ReducedModel, integer: np.ndarray | None, maximize: bool
) -> mbh.ModelBuilderHelper:
    """The model handed to OR-Tools in one call from the sparse arrays.

    The helper layer under ``model_builder`` is used directly: it takes and gives numpy arrays,
    where ``model_builder``'s ``Solver.values`` builds one Python object per variable (a second
    for 0.7M variables).
    """
    model = mbh.ModelBuilderHelper()
    # OR-Tools' stubs type these arrays wrongly (ndarray[float64, ...]); the call takes float64 arrays.
    helper: Any = model
    helper.fill_model_from_sparse_data(
        reduced.lower,
        reduced.upper,
        reduced.objective,
        reduced.row_lower,
        reduced.row_upper,
        reduced.matrix,
    )
    if integer is not None:
        for column in np.flatnonzero(integer).tolist():
            helper.set_var_integrality(column, True)
    helper.set_maximize(maximize)
    return model


def _parameters(backend: str, gap: float, abs_gap: float) -> str:
    if backend == "highs":
        # HiGHS writes a banner to stdout unless told not to; stdout is the CLI's JSON.
        return f"output_flag=false\nmip_rel_gap={gap}\nmip_abs_gap={abs_gap}\nthreads=1"
    if backend == "scip":
        return f"limits/gap = {gap}\nlimits/absgap = {abs_gap}\ndisplay/verblevel = 0"
    return f"relative_gap_limit: {gap}, absolute_gap_limit: {abs_gap}, num_workers: 2"


def _solver_time(limit_s: float, reduced: ReducedModel) -> float:
    """The solver's own limit: what is left less the time to hand it the model, which its clock
    does not count (measured: about a second per million nonzeros, from Python to OR-Tools to
    the solver)."""
    handover_s = 1e-6 * reduced.matrix.nnz
    return max(0.01, limit_s - handover_s)


def _within(value: float, bound: float, maximize: bool, gap: float, abs_gap: float) -> bool:
    """Is ``value`` proven within the gap of ``bound`` (relative, or absolute ``abs_gap``)?"""
    distance = (bound - value) if maximize else (value - bound)
    return distance <= max(abs_gap, gap * abs(value)) + 1e-9


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b
