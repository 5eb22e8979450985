"""Offline exact solutions for the benchmark instances: HiGHS' MIP over every candidate, for hours.

The best known solution of an instance must never be the engine's own answer under test. This
module computes it apart from the engine's solve pipeline: the full MIP of the contract (every
candidate, every shipment, every all-or-nothing order, no pruning) is handed to HiGHS through
``highspy`` and solved lexicographically, as the contract orders:

1. for each priority from the highest down, the most units of that priority (a MIP, the lower
   priorities' columns fixed at zero, since they can only take stock away, started from the
   higher priorities' allocation completed by the greedy rules, which are not under test), held
   from then on;
2. the least cost at those fills (a MIP started from the last fill stage's allocation), with
   HiGHS' proven dual bound.

The model's rows are those of ``engine.model.build_model`` (held to the independent reference MILP
of ``tests/reference.py`` by the tests); the allocation found is checked by ``engine.checker``
(written apart from the optimiser) before it is recorded. Each stage has its own time limit; a
stage that stops at its limit is recorded as such, with the bound it proved, never as optimal.

    python -m benchmarks.exact --sizes S --seeds 1,2,3 --fill-limit 600 --cost-limit 1800
    nice -n 19 python -m benchmarks.exact --sizes M --seeds 1 --threads 1 \
        --presolve-rule-off 98304 --mip-lp-solver ipm --fill-limit 1800 --cost-limit 900

(M: probing and enumeration off, IPX for the fill stages' first LP; one process per seed.)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from engine.bound import quiet_highs
from engine.checker import check
from engine.greedy import greedy_allocate
from engine.measures import allocation_cost, fill_by_priority, relative_gap
from engine.model import build_model, cost_objective
from engine.optimizer import complete_greedily
from engine.problem import ProblemData, build_problem
from engine.result import SolverInfo, build_response
from models.validation import parse_solve_request_json

BEST_KNOWN = Path(__file__).with_name("best_known.json")


def _highs(
    threads: int,
    presolve: str = "choose",
    presolve_rule_off: int = 0,
    log_file: str = "",
    mip_lp_solver: str = "choose",
) -> Any:
    h = quiet_highs()
    # HiGHS solves a MIP's first LP (no basis yet) with this solver, later ones by simplex: at
    # M the dual simplex had not finished priority 0's root LP after 20 minutes, IPX took 8.
    # (The fill stages only: the cost stage's LP is the simplex's, a minute at M.)
    h.setOptionValue("mip_lp_solver", mip_lp_solver)
    # At M, HiGHS' MIP presolve spends hours in probing's clique cover (its time limit is not
    # checked there); "off" skips all of presolve, ``presolve_rule_off`` 32768 only probing.
    h.setOptionValue("presolve", presolve)
    h.setOptionValue("presolve_rule_off", presolve_rule_off)
    if log_file:  # HiGHS' own log, to follow a run of hours
        h.setOptionValue("log_file", log_file)
        h.setOptionValue("output_flag", True)
        h.setOptionValue("log_to_console", False)
    if threads:  # see engine.bound.quiet_highs: one scheduler size per process
        h.setOptionValue("threads", threads)
    h.setOptionValue("random_seed", 1)
    return h


def _pass_model(h: highspy.Highs, data: ProblemData) -> tuple[Any, np.ndarray]:
    """The full MIP (all columns integer) into ``h``; returns the model and its column uppers."""
    model = build_model(data)
    matrix = sp.csc_matrix(model.matrix)
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_columns
    lp.num_row_ = int(model.row_lower.size)
    lp.col_cost_ = np.zeros(model.n_columns)
    lp.col_lower_ = model.lower
    lp.col_upper_ = model.upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data
    lp.a_matrix_.num_col_ = model.n_columns
    lp.a_matrix_.num_row_ = int(model.row_lower.size)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * model.n_columns
    h.passModel(lp)
    return model, model.upper.copy()


def _set_objective(h: highspy.Highs, costs: np.ndarray, maximize: bool) -> None:
    n = costs.size
    h.changeColsCost(n, np.arange(n, dtype=np.int32), costs.astype(np.float64))
    h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize)


def _set_bounds(h: highspy.Highs, lower: np.ndarray, upper: np.ndarray) -> None:
    n = upper.size
    h.changeColsBounds(n, np.arange(n, dtype=np.int32), lower, upper)


def _start(
    h: highspy.Highs,
    model: Any,
    data: ProblemData,
    x: np.ndarray,
    lower: np.ndarray | None = None,
) -> None:
    columns = model.columns_of(data, x)
    if lower is not None:  # columns held open by their bounds are open in the start too
        columns = np.maximum(columns, lower)
    solution = highspy.HighsSolution()
    solution.col_value = list(columns)
    solution.value_valid = True
    h.setSolution(solution)


def _feasible_start(data: ProblemData, x_above: np.ndarray, priority: int) -> np.ndarray:
    """A start for the fill stage of ``priority``: the higher priorities' solved allocation,
    completed for this priority by the greedy rules (the baseline, not the engine under test)
    with the stock and capacity it leaves. (Taking the greedy's own allocation of the priority
    and dropping the orders that then overuse a row left M-seed2's start 2,000 units under the
    greedy's, and HiGHS found nothing better in an hour.)"""
    completed = complete_greedily(data, x_above, priority)
    line_priority = data.line_priority[data.candidate_line]
    return np.where(line_priority >= priority, completed, 0)


def _proven(h: highspy.Highs) -> bool:
    """Did HiGHS prove its stage (a batch with nothing to allocate has an empty model)?"""
    return h.getModelStatus() in (
        highspy.HighsModelStatus.kOptimal,
        highspy.HighsModelStatus.kModelEmpty,
    )


def solve_exactly(
    data: ProblemData,
    *,
    fill_limit_s: float,
    cost_limit_s: float,
    threads: int = 0,
    presolve: str = "choose",
    presolve_rule_off: int = 0,
    log_file: str = "",
    mip_lp_solver: str = "choose",
    log: Any = print,
) -> dict[str, Any]:
    """The lexicographic optimum (or the best HiGHS found and its bound), with what it took."""
    h = _highs(threads, presolve, presolve_rule_off, log_file, mip_lp_solver)
    model, full_upper = _pass_model(h, data)
    start = greedy_allocate(data, preference="cheapest")
    x_above = np.zeros_like(start)  # the allocation of the priorities solved so far
    stages: list[dict[str, Any]] = []
    fills_proven = True
    line_priority = data.line_priority[data.candidate_line]
    for priority in data.priorities:
        started = time.perf_counter()
        objective = np.zeros(model.n_columns)
        objective[: model.n_x] = line_priority == priority
        # Less a tie-break worth under a hundredth of a unit in all: it cannot change the
        # most units (fill is integral and the gap below proves it), and without it every
        # column weighs the same, which sends HiGHS' set-up of objective cliques into hours.
        cost = cost_objective(data, model)
        objective -= cost * (0.01 / max(float(cost @ model.upper), 1.0))
        upper = full_upper.copy()
        upper[: model.n_x][line_priority < priority] = 0.0
        upper[model.n_x : model.n_x + model.n_y][
            data.order_priority[data.pair_order] < priority
        ] = 0.0
        upper[model.n_x + model.n_y :][
            data.order_priority[model.partial_free_orders] < priority
        ] = 0.0
        # A shipment whose column binds nothing a fill stage counts (no no-split order, no
        # location's shipments cap) only carries cost: held open, it drops out with its link
        # row in presolve, which at M is most of the model.
        lower = model.lower.copy()
        y = slice(model.n_x, model.n_x + model.n_y)
        lower[y] = np.where(~model.y_bound_by_fill & (upper[y] > 0), 1.0, lower[y])
        _set_bounds(h, lower, upper)
        _set_objective(h, objective, maximize=True)
        h.setOptionValue("time_limit", float(fill_limit_s))
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 0.98)  # fill is integral: a gap under a unit proves it
        _start(h, model, data, _feasible_start(data, x_above, priority), lower)
        h.run()
        info = h.getInfo()
        status = h.modelStatusToString(h.getModelStatus())
        values = np.asarray(h.getSolution().col_value)
        x = np.rint(values[: model.n_x]).astype(np.int64)
        fill = int(np.sum(x[line_priority == priority]))
        # the bound of the units alone: the tie-break weighs under 0.01
        units_bound = float(info.mip_dual_bound) + 0.01
        proven = _proven(h)
        fills_proven &= proven
        stages.append(
            {
                "stage": f"fill:{priority}",
                "status": status,
                "value": fill,
                "bound": units_bound,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        log(
            f"  fill:{priority} {status} {fill} (bound {units_bound:.2f}) "
            f"in {stages[-1]['seconds']} s"
        )
        h.changeRowBounds(model.fill_rows[priority], float(fill), np.inf)
        x_above = np.where(line_priority >= priority, x, 0)
        start = np.where(line_priority >= priority, x, start)
    started = time.perf_counter()
    h.setOptionValue("mip_lp_solver", "choose")
    _set_bounds(h, model.lower, full_upper)
    _set_objective(h, cost_objective(data, model), maximize=False)
    h.setOptionValue("time_limit", float(cost_limit_s))
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.setOptionValue("mip_abs_gap", 1e-6)
    _start(h, model, data, start)
    h.run()
    info = h.getInfo()
    values = np.asarray(h.getSolution().col_value)
    x = np.rint(values[: model.n_x]).astype(np.int64)
    cost_status = h.modelStatusToString(h.getModelStatus())
    # stopped before its first LP, HiGHS has no bound (-inf): costs are never negative
    cost_bound = max(float(info.mip_dual_bound), 0.0)
    stages.append(
        {
            "stage": "cost",
            "status": cost_status,
            "value": allocation_cost(data, x),
            "bound": cost_bound,
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    log(
        f"  cost {cost_status} {stages[-1]['value']:.2f} (bound {cost_bound:.2f}) "
        f"in {stages[-1]['seconds']} s"
    )
    return {
        "x": x,
        "fill": {str(p): int(v) for p, v in fill_by_priority(data, x).items()},
        "cost": allocation_cost(data, x),
        "bound": cost_bound,
        "fills_proven": fills_proven,
        "proven_optimal": fills_proven and _proven(h),
        "stages": stages,
    }


def solve_exactly_with_scip(
    data: ProblemData, *, fill_limit_s: float, cost_limit_s: float, log: Any = print
) -> dict[str, Any]:
    """The same lexicographic stages with SCIP (through OR-Tools) on the same full model: each
    stage one full MIP, no restricted model, no search; for instances where HiGHS' presolve
    stalls (at M it spends hours in probing's clique cover)."""
    from engine.model import fill_objective
    from engine.stages import StageSolver

    stages_solver = StageSolver(data, "scip", time.perf_counter() + 10**9)
    model = stages_solver.model
    stages: list[dict[str, Any]] = []
    fills_proven = True
    x: np.ndarray | None = None
    line_priority = data.line_priority[data.candidate_line]
    for priority in data.priorities:
        started = time.perf_counter()
        upper = model.upper.copy()
        upper[: model.n_x][line_priority < priority] = 0.0
        x_p, _value, bound, proven = stages_solver.solve(
            f"fill:{priority}",
            fill_objective(data, model, priority, tie_break=False),
            maximize=True,
            gap=0.0,
            abs_gap=0.99,
            upper=upper,
            time_limit_s=fill_limit_s,
        )
        if x_p is None:
            raise SystemExit(f"fill:{priority}: SCIP found no allocation in {fill_limit_s} s")
        fill = int(np.sum(x_p[line_priority == priority]))
        fills_proven &= proven
        stages.append(
            {
                "stage": f"fill:{priority}",
                "status": "Optimal" if proven else "Time limit reached",
                "value": fill,
                "bound": float(bound),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        log(
            f"  fill:{priority} {stages[-1]['status']} {fill} (bound {bound:.2f}) "
            f"in {stages[-1]['seconds']} s"
        )
        stages_solver.hold_fill(priority, fill)
        x = x_p
    started = time.perf_counter()
    x_c, _value, bound, proven = stages_solver.solve(
        "cost",
        cost_objective(data, model),
        maximize=False,
        gap=1e-6,
        abs_gap=1e-6,
        time_limit_s=cost_limit_s,
    )
    if x_c is not None:
        x = x_c
    assert x is not None
    cost = allocation_cost(data, x)
    bound = float(bound) if x_c is not None and np.isfinite(bound) else 0.0
    stages.append(
        {
            "stage": "cost",
            "status": "Optimal" if proven else "Time limit reached",
            "value": cost,
            "bound": bound,
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    log(
        f"  cost {stages[-1]['status']} {cost:.2f} (bound {bound:.2f}) in {stages[-1]['seconds']} s"
    )
    return {
        "x": x,
        "fill": {str(p): int(v) for p, v in fill_by_priority(data, x).items()},
        "cost": cost,
        "bound": bound,
        "fills_proven": fills_proven,
        "proven_optimal": fills_proven and proven,
        "stages": stages,
        "solver": "SCIP (OR-Tools 9.15), full MIP, lexicographic stages",
    }


def record(
    key: str, data: ProblemData, request_bytes: bytes, found: dict[str, Any], command: str
) -> dict[str, Any]:
    """Check the allocation with the independent checker, then store it in best_known.json (when
    it is better than the one there); the checked response."""
    request = parse_solve_request_json(request_bytes)
    info = SolverInfo(
        name=f"highs/{highspy.__version__ if hasattr(highspy, '__version__') else 'highspy'}",
        optimal=found["proven_optimal"],
        objective=found["cost"],
        bound=min(found["bound"], found["cost"]),
        gap=relative_gap(found["cost"], min(found["bound"], found["cost"])),
        seconds=0.0,
        strategy="optimal",
    )
    response = build_response(data, found["x"], info)
    violations = check(request, response)
    if violations:
        raise SystemExit(f"{key}: the exact solution breaks the contract: {violations[:3]}")
    entry = _entry(found, response, command)
    with open(BEST_KNOWN.with_suffix(".lock"), "w") as lock:
        # several instances may be solved at once, in separate processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        best = json.loads(BEST_KNOWN.read_text()) if BEST_KNOWN.exists() else {}
        if key in best and _rank(best[key]) <= _rank(entry):
            print(f"{key}: kept the best known already recorded (as good or better)")
            return response
        best[key] = entry
        BEST_KNOWN.write_text(json.dumps(dict(sorted(best.items())), indent=2) + "\n")
    return response


def _rank(entry: dict[str, Any]) -> tuple[Any, ...]:
    """Lexicographic order of two records of an instance (lower is better): more units at each
    priority from the highest down, then less cost, then a proven one first."""
    fill = sorted(((int(p), units) for p, units in entry["fill"].items()), reverse=True)
    return (*(-units for _, units in fill), round(entry["cost"], 4), not entry["proven_optimal"])


def _entry(found: dict[str, Any], response: dict[str, Any], command: str) -> dict[str, Any]:
    return {
        "fill": found["fill"],
        "cost": round(found["cost"], 4),
        "bound": round(found["bound"], 4),
        "proven_optimal": found["proven_optimal"],
        "fills_proven": found["fills_proven"],
        "shipments": response["summary"]["shipments"],
        "split_orders": response["summary"]["split_orders"],
        "solver": found.get(
            "solver", f"HiGHS {_highs_version()} (highspy), full MIP, lexicographic stages"
        ),
        "stages": found["stages"],
        "command": command,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "found_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _highs_version() -> str:
    h = quiet_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.run import ensure_instance

    parser = argparse.ArgumentParser(prog="python -m benchmarks.exact", description=__doc__)
    parser.add_argument("--sizes", default="S")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--fill-limit", type=float, default=600.0, help="seconds per fill stage")
    parser.add_argument(
        "--cost-limit", type=float, default=3600.0, help="seconds for the cost stage"
    )
    parser.add_argument("--threads", type=int, default=0, help="0: HiGHS chooses")
    parser.add_argument("--presolve", choices=("choose", "on", "off"), default="choose")
    parser.add_argument(
        "--presolve-rule-off",
        type=int,
        default=0,
        help="HiGHS' bit mask of presolve rules to skip (32768: probing)",
    )
    parser.add_argument("--highs-log", default="", help="file for HiGHS' own log")
    parser.add_argument(
        "--mip-lp-solver",
        choices=("choose", "simplex", "ipm", "ipx", "hipo"),
        default="choose",
        help="HiGHS' solver for the first LP of each fill stage's MIP",
    )
    parser.add_argument("--solver", choices=("highs", "scip"), default="highs")
    parser.add_argument(
        "--responses",
        type=Path,
        default=None,
        help="directory for each solution as the contract's response (<size>-seed<n>.json), to "
        "compare the engine's allocation with it order by order",
    )
    parser.add_argument(
        "--instances-dir",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "omnibroker-bench",
    )
    args = parser.parse_args(argv)
    command = "python -m benchmarks.exact " + " ".join(sys.argv[1:] if argv is None else argv)
    for size in args.sizes.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            path, _ = ensure_instance(args.instances_dir, size, seed)
            body = path.read_bytes()
            data = build_problem(parse_solve_request_json(body))
            print(f"{size}-seed{seed}: {data.n_candidates:,} candidates", flush=True)

            def log(line: str) -> None:
                print(line, flush=True)

            if args.solver == "scip":
                found = solve_exactly_with_scip(
                    data, fill_limit_s=args.fill_limit, cost_limit_s=args.cost_limit, log=log
                )
            else:
                found = solve_exactly(
                    data,
                    fill_limit_s=args.fill_limit,
                    cost_limit_s=args.cost_limit,
                    threads=args.threads,
                    presolve=args.presolve,
                    presolve_rule_off=args.presolve_rule_off,
                    log_file=args.highs_log,
                    mip_lp_solver=args.mip_lp_solver,
                    log=log,
                )
            response = record(f"{size}-seed{seed}", data, body, found, command)
            if args.responses is not None:
                args.responses.mkdir(parents=True, exist_ok=True)
                out = args.responses / f"{size}-seed{seed}.json"
                out.write_text(json.dumps(response) + "\n")
            del found, response
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
