"""The benchmark's measuring instruments: the LP bound must bound, the naive MIP must be feasible,
the best-known file is only read, the table says met / not met / not measured honestly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.calibration import calibrate
from benchmarks.lp_bound import lp_cost_bound
from benchmarks.naive_mip import solve_naive_mip
from benchmarks.report import (
    MET,
    NO_BEST_KNOWN,
    NOT_MET,
    NOT_RUN,
    PREVIOUS_XL_COST,
    PREVIOUS_XL_FILL,
    TARGET_NAMES,
    BestKnown,
    _speed_line,
    evaluate_targets,
    load_best_known,
    write_plot,
)
from benchmarks.run import (
    _allocation_rows,
    _metrics,
    merge_runs,
    time_over_limit,
    write_outputs,
)
from engine.checker import check_allocations
from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.problem import build_problem
from models.validation import parse_solve_request
from tests.reference import reference_optimum
from tests.strategies import solve_requests

# HiGHS sizes its thread pool once per process, at the first solve: one run with another count
# makes every later solve that asks for a different one fail ("Not Set"). The engine's solves
# leave the count to HiGHS (engine.bound.quiet_highs), so these do too (0), whichever of the
# engine's tests ran before them in the same process.
HIGHS_THREADS = 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(solve_requests())
def test_lp_bound_never_exceeds_the_optimum_at_its_fill(raw: dict[str, Any]) -> None:
    request = parse_solve_request(raw)
    data = build_problem(request)
    optimum = reference_optimum(request)
    lp = lp_cost_bound(data, optimum.fill_by_priority, threads=HIGHS_THREADS)
    assert lp.bound is not None, lp.status
    assert lp.bound <= optimum.cost + 1e-6 * max(1.0, optimum.cost)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(solve_requests())
def test_naive_mip_allocation_is_feasible_and_fills_no_more_than_the_optimum(
    raw: dict[str, Any],
) -> None:
    request = parse_solve_request(raw)
    data = build_problem(request)
    result = solve_naive_mip(data, time_limit_s=10.0)
    assert result.allocation is not None, result.status
    assert check_allocations(request, _allocation_rows(data, result.allocation)) == []
    optimum = reference_optimum(request)
    fill = _metrics(data, result.allocation)["fill"]
    ordered = sorted(optimum.fill_by_priority, reverse=True)
    assert [fill[str(p)] for p in ordered] <= [optimum.fill_by_priority[p] for p in ordered]


def test_lp_bound_is_below_greedy_cost_and_infeasible_beyond_reachable_fill() -> None:
    data = build_problem(
        parse_solve_request(generate(Size(orders=150, locations=8, skus=60), seed=2))
    )
    x = greedy_allocate(data)
    metrics = _metrics(data, x)
    fill = {int(p): v for p, v in metrics["fill"].items()}
    lp = lp_cost_bound(data, fill, threads=HIGHS_THREADS)
    assert lp.bound is not None and 0.0 < lp.bound <= metrics["cost"] + 1e-6
    too_much = {p: int(data.line_quantity[data.line_priority == p].sum()) + 1 for p in fill}
    assert lp_cost_bound(data, too_much, threads=HIGHS_THREADS).bound is None


def _case(
    fill: dict[str, int],
    cost: float,
    *,
    status: str = "feasible",
    gap: float = 0.01,
    wall: float = 1.0,
    splits: int = 10,
) -> dict[str, Any]:
    return {
        "fill": fill,
        "requested": {p: v + 10 for p, v in fill.items()},
        "cost": cost,
        "objective": cost,
        "bound": cost * (1.0 - gap),
        "gap": gap,
        "shipments": 100,
        "split_orders": splits,
        "wall_s": wall,
        "peak_mib": 500.0,
        "status": status,
        "relative_gap": 1e-4,
        "n_violations": 0,
    }


_SIZES = {
    "S": {"orders": 1_000, "locations": 50, "skus": 1_000},
    "M": {"orders": 10_000, "locations": 200, "skus": 5_000},
    "L": {"orders": 50_000, "locations": 500, "skus": 20_000},
    "XL": {"orders": 200_000, "locations": 1_000, "skus": 50_000},
}
_LIMITS = {"S": 5.0, "M": 10.0, "L": 60.0, "XL": 300.0}


def _entry(
    name: str, cases: dict[str, Any], run_at: str = "2026-12-01T01:00:00Z"
) -> dict[str, Any]:
    size, _, seed = name.partition("-seed")
    return {
        "instance": name,
        "seed": int(seed),
        "size": _SIZES[size],
        "time_limit_s": _LIMITS[size],
        "run_at": run_at,
        "cases": cases,
    }


def _results(**instances: dict[str, Any]) -> dict[str, Any]:
    return {"instances": {name: _entry(name, cases) for name, cases in instances.items()}}


def _exact(fill: dict[str, int], cost: float, bound: float | None = None) -> dict[str, Any]:
    """A best-known entry as ``benchmarks/exact.py`` writes it."""
    return {
        "fill": fill,
        "cost": cost,
        "bound": cost if bound is None else bound,
        "proven_optimal": bound is None,
        "fills_proven": True,
        "shipments": 100,
        "split_orders": 10,
        "solver": "HiGHS 1.11.0 (highspy), full MIP, lexicographic stages",
        "stages": [],
        "command": "python -m benchmarks.exact --sizes S --seeds 1",
        "machine": "x86_64, 2 cores",
        "found_at": "2026-12-01T00:00:00Z",
    }


def _verdicts(results: dict[str, Any], best: dict[str, Any]) -> dict[tuple[str, str], str]:
    targets = evaluate_targets(results, BestKnown(best), protocol={})
    return {(t.scope, t.target): t.verdict for t in targets}


S_FILL = {"2": 85, "1": 314, "0": 1_761}
S_FILL_TARGET = ("S-seed1", "fill equals the best known's, every priority")
S_STATUS_TARGET = ("S-seed1", 'status "optimal" (relative_gap 1e-4)')
S_GAP_TARGET = ("S-seed1", "reported gap <= 1e-4")


def test_s_case_at_the_best_known_fill_optimal_with_gap_0_is_met() -> None:
    results = _results(
        **{"S-seed1": {"optimal": _case(S_FILL, 10_000.0, status="optimal", gap=0.0)}}
    )
    verdicts = _verdicts(results, {"S-seed1": _exact(S_FILL, 10_000.0)})
    assert verdicts[S_FILL_TARGET] == MET
    assert verdicts[S_STATUS_TARGET] == MET
    assert verdicts[S_GAP_TARGET] == MET


def test_s_optimal_at_a_looser_relative_gap_than_the_target_is_not_met() -> None:
    loose = {**_case(S_FILL, 10_000.0, status="optimal", gap=0.0), "relative_gap": 1e-3}
    verdicts = _verdicts(_results(**{"S-seed1": {"optimal": loose}}), {})
    assert verdicts[S_STATUS_TARGET] == NOT_MET


def test_s_case_below_the_best_known_fill_is_not_met() -> None:
    lower = {**S_FILL, "1": 313}
    results = _results(**{"S-seed1": {"optimal": _case(lower, 9_990.0, gap=0.002)}})
    targets = evaluate_targets(results, BestKnown({"S-seed1": _exact(S_FILL, 10_000.0)}), {})
    fill = next(t for t in targets if (t.scope, t.target) == S_FILL_TARGET)
    assert fill.verdict == NOT_MET and "p1 -1" in fill.measured
    verdicts = {(t.scope, t.target): t.verdict for t in targets}
    assert verdicts[S_STATUS_TARGET] == NOT_MET
    assert verdicts[S_GAP_TARGET] == NOT_MET


def test_target_without_a_best_known_is_not_measured() -> None:
    results = _results(
        **{
            "S-seed2": {"optimal": _case(S_FILL, 10_000.0, status="optimal", gap=0.0)},
            "M-seed1": {"optimal": _case(S_FILL, 10_000.0, gap=0.001)},
        }
    )
    verdicts = _verdicts(results, {})
    assert verdicts[("S-seed2", "fill equals the best known's, every priority")] == NO_BEST_KNOWN
    assert verdicts[("M-seed1", "fill at least the best known's, every priority")] == NO_BEST_KNOWN
    assert (
        verdicts[("M-seed1", "cost <= +0.3% over the best known, at equal fill")] == NO_BEST_KNOWN
    )
    # what does not need a best known is still judged
    assert verdicts[("M-seed1", "reported gap <= 2.5%")] == MET


def test_best_known_entry_not_written_by_the_exact_solver_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "best_known.json"
    engine_answer = {"fill": S_FILL, "cost": 10_000.0, "how": "optimal (or-tools/scip)"}
    path.write_text(json.dumps({"S-seed1": engine_answer, "S-seed2": _exact(S_FILL, 1.0)}))
    best = load_best_known(path)
    assert set(best.entries) == {"S-seed2"}
    assert "solver" in best.refused["S-seed1"] and "command" in best.refused["S-seed1"]


def test_instance_of_the_protocol_not_run_is_not_measured() -> None:
    targets = evaluate_targets({"instances": {}}, BestKnown(), protocol={"M": [2]})
    m = [t for t in targets if t.scope == "M-seed2"]
    assert m and all(t.verdict == NOT_RUN for t in m)


def test_m_fill_above_the_best_known_is_met_and_says_the_best_known_is_not_optimal() -> None:
    more = {**S_FILL, "0": 1_762}
    results = _results(**{"M-seed1": {"optimal": _case(more, 10_050.0, gap=0.01)}})
    targets = evaluate_targets(results, BestKnown({"M-seed1": _exact(S_FILL, 10_000.0)}), {})
    fill = next(t for t in targets if t.target.startswith("fill at least"))
    cost = next(t for t in targets if t.target.startswith("cost <="))
    assert fill.verdict == MET and "not optimal" in fill.measured
    assert cost.verdict.startswith("not measured")


@pytest.mark.parametrize(("cost", "expected"), [(10_030.0, MET), (10_031.0, NOT_MET)])
def test_m_cost_is_judged_against_the_best_known_at_equal_fill(cost: float, expected: str) -> None:
    results = _results(**{"M-seed3": {"optimal": _case(S_FILL, cost, gap=0.02)}})
    verdicts = _verdicts(results, {"M-seed3": _exact(S_FILL, 10_000.0, bound=9_900.0)})
    assert verdicts[("M-seed3", "cost <= +0.3% over the best known, at equal fill")] == expected


def test_l_cost_without_a_best_known_is_judged_against_the_reported_bound() -> None:
    greedy = _case({"0": 100}, 12_000.0)
    near = _case({"0": 100}, 10_000.0, gap=0.005)  # bound 9,950: +0.5% over it
    far = _case({"0": 100}, 10_000.0, gap=0.05)
    target = ("L-seed1", "cost <= +1% over the best known (none: the reported bound)")
    assert (
        _verdicts(_results(**{"L-seed1": {"greedy": greedy, "optimal": near}}), {})[target] == MET
    )
    assert (
        _verdicts(_results(**{"L-seed1": {"greedy": greedy, "optimal": far}}), {})[target]
        == NOT_MET
    )


def test_xl_cost_is_judged_against_the_engine_before_the_rewrite() -> None:
    fill = dict(PREVIOUS_XL_FILL)
    greedy = _case({p: v - 5 for p, v in fill.items()}, 1_900_000.0)
    target = next(t for t in TARGET_NAMES["XL"] if t.startswith("cost"))
    better = _case(fill, PREVIOUS_XL_COST - 1.0)
    cheaper_but_less = _case({**fill, "0": fill["0"] - 1}, PREVIOUS_XL_COST - 1000.0)
    run = {"XL-seed1": {"greedy": greedy, "optimal": better}}
    assert _verdicts(_results(**run), {})[("XL-seed1", target)] == MET
    run = {"XL-seed1": {"greedy": greedy, "optimal": cheaper_but_less}}
    assert _verdicts(_results(**run), {})[("XL-seed1", target)] == NOT_MET


@pytest.mark.parametrize(("wall", "expected"), [(5.4, MET), (5.6, NOT_MET)])
def test_wall_more_than_ten_percent_over_the_time_limit_is_not_met(
    wall: float, expected: str
) -> None:
    results = _results(**{"S-seed1": {"optimal": _case(S_FILL, 1.0, wall=wall)}})
    verdicts = _verdicts(results, {})
    assert verdicts[("S-seed1", "wall <= 1.1 x the time limit (5 s)")] == expected


def test_time_over_limit_is_the_fraction_past_the_limit() -> None:
    assert time_over_limit(5.5, 5.0) == pytest.approx(0.1)
    assert time_over_limit(2.5, 5.0) == pytest.approx(-0.5)


def test_table_and_targets_read_best_known_and_never_write_it(tmp_path: Path) -> None:
    best_path = tmp_path / "best_known.json"
    best_path.write_text(json.dumps({"S-seed1": _exact(S_FILL, 10_000.0)}, indent=2))
    before = best_path.read_bytes(), best_path.stat().st_mtime_ns
    out = tmp_path / "out"
    results = _results(
        **{
            "S-seed1": {
                "greedy": _case(S_FILL, 11_000.0, splits=20),
                "optimal": _case({**S_FILL, "0": 1_760}, 9_999.0, gap=0.001),
            },
            "L-seed1": {"optimal": _case({"0": 5}, 50.0)},
        }
    )
    write_outputs(results, out, best_path, log=lambda _: None)
    assert (best_path.read_bytes(), best_path.stat().st_mtime_ns) == before
    assert not (out / "best_known.json").exists()
    table = (out / "results.md").read_text()
    assert "python -m benchmarks.exact --sizes S --seeds 1" in table  # the best known's command
    assert "| S | 1 | optimal |" in table and "p0 -1" in table  # fill vs best known
    assert "No best known for L-seed1" in table


def test_plot_writes_a_png_for_results_with_a_run_that_filled_nothing(tmp_path: Path) -> None:
    nothing = _case({"2": 0, "1": 0, "0": 0}, 0.0, wall=30.0)
    results = _results(
        **{
            "S-seed1": {"greedy": _case(S_FILL, 11_000.0), "naive": nothing},
            "S-seed2": {"greedy": _case(S_FILL, 10_500.0), "optimal": _case(S_FILL, 10_000.0)},
            "M-seed1": {
                "greedy": _case(S_FILL, 99_000.0),
                "optimal": {"error": "killed after 140 s", "wall_s": 140.0},
            },
        }
    )
    path = tmp_path / "results.png"
    write_plot(results, BestKnown({"S-seed2": _exact(S_FILL, 10_000.0)}), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_count_shipments_and_splits() -> None:
    data = build_problem(
        parse_solve_request(generate(Size(orders=60, locations=5, skus=30), seed=4))
    )
    x = greedy_allocate(data)
    metrics = _metrics(data, x)
    used_pairs = {
        (int(data.pair_order[k]), int(data.pair_location[k]))
        for k in np.unique(data.candidate_pair[x > 0])
    }
    assert metrics["shipments"] == len(used_pairs)
    orders = [o for o, _ in used_pairs]
    assert metrics["split_orders"] == sum(orders.count(o) > 1 for o in set(orders))


def test_lp_bound_handles_a_location_that_may_ship_nothing() -> None:
    raw = {
        "locations": [
            {"id": "S1", "kind": "store", "lat": 42.3, "lon": -71.0, "max_units": 0},
            {"id": "W1", "kind": "warehouse", "lat": 40.7, "lon": -74.1},
        ],
        "inventory": [
            {"location_id": "S1", "sku": "A", "quantity": 5},
            {"location_id": "W1", "sku": "A", "quantity": 1},
        ],
        "orders": [
            {
                "id": "O1",
                "delivery": "ship",
                "ship_to": {"lat": 42.3, "lon": -71.0},
                "lines": [{"id": "1", "sku": "A", "quantity": 2}],
            }
        ],
    }
    request = parse_solve_request(raw)
    data = build_problem(request)
    lp = lp_cost_bound(data, {0: 1}, threads=HIGHS_THREADS)
    optimum = reference_optimum(request)
    assert optimum.fill_by_priority == {0: 1}
    assert lp.bound is not None and lp.bound == pytest.approx(optimum.cost, rel=1e-9)
    assert lp_cost_bound(data, {0: 2}, threads=HIGHS_THREADS).bound is None


def test_merging_parallel_runs_keeps_the_newer_instance_and_writes_no_best_known(
    tmp_path: Path,
) -> None:
    import orjson

    def entry(run_at: str, cost: float) -> dict[str, Any]:
        return _entry("L-seed1", {"greedy": _case({"0": 10}, cost)}, run_at)

    main, other = tmp_path / "main", tmp_path / "other"
    main.mkdir()
    other.mkdir()
    (main / "results.json").write_bytes(
        orjson.dumps(
            {
                "instances": {
                    "L-seed1": entry("2026-11-27T09:00:00Z", 50.0),
                    "S-seed1": _entry("S-seed1", {"greedy": _case(S_FILL, 1.0)}),
                }
            }
        )
    )
    (other / "results.json").write_bytes(
        orjson.dumps({"instances": {"L-seed1": entry("2026-11-27T10:20:00Z", 60.0)}})
    )
    merged = merge_runs(main, [other], tmp_path / "best_known.json", log=lambda _: None)
    assert merged["instances"]["L-seed1"]["run_at"] == "2026-11-27T10:20:00Z"
    assert "S-seed1" in merged["instances"]
    assert not (main / "best_known.json").exists()
    assert not (tmp_path / "best_known.json").exists()
    assert "| L | 1 | greedy |" in (main / "results.md").read_text()
    assert (main / "results.png").exists()


def test_warm_started_bounds_equal_cold_ones() -> None:
    from benchmarks.lp_bound import lp_cost_bounds

    data = build_problem(
        parse_solve_request(generate(Size(orders=150, locations=8, skus=60), seed=5))
    )
    nearest = _metrics(data, greedy_allocate(data))["fill"]
    cheapest = _metrics(data, greedy_allocate(data, "cheapest"))["fill"]
    fills = [{int(p): v for p, v in fill.items()} for fill in (nearest, cheapest)]
    warm = lp_cost_bounds(data, fills, threads=HIGHS_THREADS)
    cold = [lp_cost_bound(data, fill, threads=HIGHS_THREADS) for fill in fills]
    for w, c in zip(warm, cold, strict=True):
        assert w.bound is not None and c.bound is not None
        assert w.bound == pytest.approx(c.bound, rel=1e-7)


def test_bench_seeds_option_refuses_what_is_not_a_list_of_integers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from cli.bench import build_arguments

    parser = argparse.ArgumentParser(prog="omnibroker bench")
    build_arguments(parser)
    assert parser.parse_args(["--seeds", "1, 2"]).seeds == [1, 2]
    assert parser.parse_args([]).seeds is None  # the protocol's seeds
    with pytest.raises(SystemExit):
        parser.parse_args(["--seeds", "one"])
    assert "--seeds: seeds are comma-separated integers" in capsys.readouterr().err


def test_machine_speed_is_timed_on_fixed_work_and_printed_with_the_results(
    tmp_path: Path,
) -> None:
    speed = calibrate(repeats=1)
    assert set(speed) == {"python_s", "numpy_s", "highs_s"}
    assert all(seconds > 0.0 for seconds in speed.values())
    results = {
        **_results(**{"S-seed1": {"optimal": _case(S_FILL, 10_000.0)}}),
        "machine": {"speed": speed},
    }
    write_outputs(results, tmp_path, tmp_path / "none.json", log=lambda _: None)
    table = (tmp_path / "results.md").read_text()
    assert f"HiGHS LP {speed['highs_s']}" in table
    assert f"Python loop {speed['python_s']}" in table


def test_a_run_without_a_machine_speed_says_so() -> None:
    assert _speed_line(None) == "Machine speed: not measured in this run."
