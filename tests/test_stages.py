"""One stage of the optimiser (engine/stages.py) against one model: the LP bounds the MIP, the
guided stage proves what it returns, and a stage with no time left is skipped, never half-run."""

from __future__ import annotations

import time

import numpy as np

from engine.background import BackgroundBound
from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.measures import allocation_cost, fill_by_priority
from engine.model import allocation_is_feasible, cost_objective, fill_objective
from engine.optimizer import _upper_without_lower_priorities, solve_stages
from engine.params import SolveParams
from engine.problem import build_problem
from engine.stages import StageSolver
from models.validation import parse_solve_request
from tests.reference import reference_optimum


def _problem(seed: int):  # type: ignore[no-untyped-def]
    raw = generate(Size(orders=30, locations=6, skus=12), seed)
    raw["policy"]["relative_gap"] = 0.0
    request = parse_solve_request(raw)
    return request, build_problem(request)


def test_the_lp_relaxation_bounds_the_stage() -> None:
    _, data = _problem(1)
    stages = StageSolver(data, "scip", time.perf_counter() + 60)
    objective = cost_objective(data, stages.model)
    relaxed = stages.relax(objective, False, stages.model.upper)
    assert relaxed is not None
    x, value, bound, optimal = stages.solve(
        "cost", objective, maximize=False, gap=0.0, abs_gap=1e-6
    )
    assert x is not None and optimal
    assert relaxed[1] <= value + 1e-6
    assert bound <= value + 1e-6


def test_guided_stages_reach_the_reference_optimum() -> None:
    for seed in (2, 3):
        request, data = _problem(seed)
        reference = reference_optimum(request)
        stages = StageSolver(data, "scip", time.perf_counter() + 60)
        start = greedy_allocate(data)
        for priority in data.priorities:
            x, value, _bound, proven = stages.solve_guided(
                f"fill:{priority}",
                fill_objective(data, stages.model, priority, tie_break=False),
                maximize=True,
                gap=0.0,
                abs_gap=0.5,
                start=np.where(data.line_priority[data.candidate_line] >= priority, start, 0),
            )
            assert x is not None and proven
            assert round(value) == reference.fill_by_priority[priority]
            stages.hold_fill(priority, round(value))
            start = x
        x, value, bound, proven = stages.solve_guided(
            "cost",
            cost_objective(data, stages.model),
            maximize=False,
            gap=0.0,
            abs_gap=1e-6,
            start=start,
        )
        assert x is not None and proven
        assert abs(value - reference.cost) <= 1e-6 * max(1.0, reference.cost)
        assert bound <= value + 1e-6


def test_a_stage_without_time_left_is_skipped() -> None:
    _, data = _problem(4)
    stages = StageSolver(data, "scip", time.perf_counter())
    x, _value, _bound, proven = stages.solve(
        "cost", cost_objective(data, stages.model), maximize=False, gap=0.0, abs_gap=1e-6
    )
    assert x is None and not proven
    assert stages.reports[-1].status == "skipped"


def test_every_backend_returns_an_allocation_the_model_admits() -> None:
    _, data = _problem(5)
    values = []
    for backend in ("scip", "highs", "sat"):
        stages = StageSolver(data, backend, time.perf_counter() + 60)
        x, value, _bound, proven = stages.solve(
            "cost", cost_objective(data, stages.model), maximize=False, gap=0.0, abs_gap=1e-6
        )
        assert x is not None and proven
        assert allocation_is_feasible(data, stages.model, x, stages.row_lower)
        values.append(value)
    assert max(values) - min(values) <= 1e-6 * max(1.0, max(values))


def test_a_stage_s_share_of_the_time_is_taken_after_its_lp() -> None:
    # a stage given a share of what is left once its LP is solved: its MIPs run by that
    # deadline, whatever the LP took of the time before it
    _, data = _problem(5)
    started = time.perf_counter()
    until = started + 100.0
    stages = StageSolver(data, "scip", started + 0.5 * (until - started))
    stages.solve_guided(
        "cost",
        cost_objective(data, stages.model),
        maximize=False,
        gap=0.0,
        abs_gap=1e-6,
        start=np.zeros(data.n_candidates, dtype=np.int64),
        share_after_relaxation=(0.25, until),
    )
    lp = next(r for r in stages.reports if r.name == "lp")
    ended_lp = started + lp.seconds
    assert stages.deadline <= time.perf_counter() + 0.25 * (until - ended_lp) + 1e-6
    assert stages.deadline >= ended_lp + 0.25 * (until - time.perf_counter()) - 1e-6


def _relaxations(data, x):  # type: ignore[no-untyped-def]
    """The batch's masters in the background, as the pipeline starts them before the stages."""
    return BackgroundBound(
        data, x, deadline=time.perf_counter() + 60, per_line=2, fill_plans=False
    ).start()


def test_the_stages_lps_from_the_masters_are_the_stages_own() -> None:
    # the fill relaxation's whole-unit bound and the cost master moved to the stages' fill are
    # the bounds of the LPs the stages would have solved over their whole model
    for seed in (6, 7):
        _, data = _problem(seed)
        floor = greedy_allocate(data)
        bound = _relaxations(data, floor)
        try:
            stages = StageSolver(data, "scip", time.perf_counter() + 60)
            start = floor
            for priority in data.priorities:
                start = np.where(data.line_priority[data.candidate_line] >= priority, start, 0)
                upper = _upper_without_lower_priorities(data, stages.model, priority)
                own = stages.relax(
                    fill_objective(data, stages.model, priority, tie_break=False), True, upper
                )
                from_master = bound.fill_relaxation(start, priority, time.perf_counter() + 60)
                assert own is not None and from_master is not None
                assert from_master[1] == np.floor(own[1] + 1e-6)
                stages.hold_fill(priority, fill_by_priority(data, start)[priority])
            own = stages.relax(cost_objective(data, stages.model), False, stages.model.upper)
            from_master = bound.cost_relaxation(start, time.perf_counter() + 60)
            assert own is not None and from_master is not None
            assert abs(from_master[1] - own[1]) <= 1e-6 * max(1.0, own[1])
            # its units are an allocation's of the LP: within each line's quantity
            per_line = np.bincount(
                data.candidate_line, weights=from_master[0], minlength=data.n_lines
            )
            assert np.all(per_line <= data.line_quantity + 1e-6)
        finally:
            bound.stop(time.perf_counter() + 60)


def test_stages_with_the_masters_lps_reach_the_reference_optimum() -> None:
    for seed in (2, 3):
        request, data = _problem(seed)
        reference = reference_optimum(request)
        floor = greedy_allocate(data)
        bound = _relaxations(data, floor)
        try:
            found = solve_stages(
                data,
                floor,
                deadline=time.perf_counter() + 60,
                params=SolveParams(),
                relaxations=bound,
            )
        finally:
            bound.stop(time.perf_counter() + 60)
        assert fill_by_priority(data, found.x) == reference.fill_by_priority
        assert found.optimal
        assert abs(allocation_cost(data, found.x) - reference.cost) <= 1e-4 * reference.cost
        assert found.bound <= reference.cost + 1e-6
        # every LP the stages solved came from the masters
        lps = [r for r in found.reports if r.name.startswith("lp")]
        assert lps and all(r.name == "lp:master" and r.status == "optimal" for r in lps)


class _NoRelaxations:
    """Relaxations that never have an answer (a master cut short by the clock)."""

    def fill_relaxation(self, x, priority, deadline):  # type: ignore[no-untyped-def]
        return None

    def cost_relaxation(self, x, deadline):  # type: ignore[no-untyped-def]
        return None


def test_a_stage_whose_relaxation_has_no_answer_solves_its_own_lp() -> None:
    request, data = _problem(2)
    reference = reference_optimum(request)
    found = solve_stages(
        data,
        greedy_allocate(data),
        deadline=time.perf_counter() + 60,
        params=SolveParams(),
        relaxations=_NoRelaxations(),
    )
    assert fill_by_priority(data, found.x) == reference.fill_by_priority
    names = [(r.name, r.status) for r in found.reports]
    assert ("lp:master", "no_solution") in names and ("lp", "optimal") in names
