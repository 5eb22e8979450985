"""Every knob of the solve pipeline in one place: time shares, sizes, tolerances, determinism.

Not part of the wire contract: the contract's request says *what* to solve (and how long); these
say *how*. Tests, benchmarks and analysts pass their own; the API and the command line use the
defaults (the command line's ``--deterministic`` sets that one).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.backends import BACKENDS, DEFAULT_BACKEND


@dataclass(frozen=True)
class SolveParams:
    """How the pipeline spends its time. The defaults are what the benchmarks measured best."""

    # MIP backend of the stages and the neighbourhoods: "scip", "highs" or "sat".
    backend: str = DEFAULT_BACKEND

    # Deterministic mode: the clock gives way to work limits (a fixed number of neighbourhoods,
    # of bound iterations; no MIP stopped by time), seeds are fixed and neighbourhoods solved
    # in parallel are applied in the order they were formed, so the same request gives the same
    # answer twice, whatever the machine is doing. `time_limit_s` is then only a guard.
    deterministic: bool = False
    # Neighbourhoods the search solves in deterministic mode (None: 40 per second of the time
    # limit, about what two cores solve at M).
    neighbourhoods: int | None = None
    # Column-generation rounds of the bound in deterministic mode.
    bound_iterations: int = 40
    seed: int = 0

    # Solves run at once: neighbourhoods in threads, and the bound beside them (the solvers
    # release the GIL). This machine class has 2 cores.
    workers: int = 2

    # --- time -----------------------------------------------------------------------------
    # Left for writing the response after the last solve, plus this much per candidate
    # (XL's 36M candidates need about 7 s to become JSON).
    response_reserve_s: float = 0.05
    response_reserve_s_per_candidate: float = 2e-7
    # ... and this much per inventory row: the response has a `remaining` row for each (2.8 s
    # of CPU for the ledger's 9M at the morning run, where candidates say less)
    response_reserve_s_per_inventory_row: float = 3e-7
    # ... and this much more per candidate when the policy asks for explanations (0.13-0.32 s
    # at 0.73M candidates)
    explain_reserve_s_per_candidate: float = 5e-7
    # The fill stages together may use this share of the time; the cost stage the rest.
    fill_stages_share: float = 0.6
    # A fill stage's full MIP may take this share of the time left.
    fill_proof_share: float = 0.25
    # The share of the time after the fill stages that the cost stage leaves to the search.
    search_share: float = 0.4
    # No solve starts with less than this left.
    min_solve_s: float = 0.2

    # --- size -----------------------------------------------------------------------------
    # Above this many candidates no model of the whole batch is built: the neighbourhood
    # search does the work (at 0.73M candidates the LP of the whole batch alone takes a minute).
    search_above_candidates: int = 150_000
    # Each line's cheapest candidates the cost stage adds to the LP support.
    stage_candidates_per_line: int = 2
    # Each line's cheapest candidates the bound's first master holds (with the allocation's).
    bound_candidates_per_line: int = 2
    # The bound's master is solved by the dual simplex up to this many candidates in its first
    # master (2 s for M's 61k), by PDLP above it: the simplex needs 35-70 s for L's 300k, PDLP
    # 5-10 s a round to this relative tolerance, and L's bound converges in about 42 s.
    bound_simplex_max_candidates: int = 100_000
    bound_first_order_tolerance: float = 1e-3
    # No bound is computed beside the search when the first master would hold more candidates
    # than this (XL's: over a million), which would take a core from the search for nothing
    # and the memory of a pass over every candidate each round.
    bound_max_candidates: int = 600_000
    # Beyond it, the one-pass bound of engine.line_bound takes about this much per
    # candidate, kept back from the search (0.36 s of CPU at L's 6M candidates; twice that
    # for a busy machine).
    line_bound_s_per_candidate: float = 1e-7
    # The order bound (engine.order_bound: the Lagrangian that keeps each order's shipments
    # whole, at the relaxation's best duals) takes about this much per candidate, kept back from
    # the search where it fits in this share of the time (on a slow machine 0.6 s at M's
    # 0.73M candidates beside the search's last neighbourhoods, for a bound 2.5-3% above the
    # relaxation's there; 4 s alone at L's 6M), its search of the fill prices in what is left.
    order_bound_s_per_candidate: float = 1.2e-6
    order_bound_share: float = 0.3

    # Fill plans (engine.fill_bound) guide the search where no stage proved the fill: the fill
    # relaxation beside the search, and a neighbourhood of the orders its plan moves.
    fill_plans: bool = True

    # --- tolerances -----------------------------------------------------------------------
    # A neighbourhood's MIP stops within this gap at most, however loose the policy's
    # `relative_gap` (at S, 0.02 for the neighbourhoods too cost 1% more in the same time). The
    # benchmarks' M and L run their neighbourhoods at 1e-3, their policy's.
    neighbourhood_relative_gap: float = 1e-3
    # A saving smaller than this is no saving (money is summed in float64).
    saving_epsilon: float = 1e-6

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(
                f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}"
            )
        if self.workers < 1:
            raise ValueError("workers must be at least 1")

    def neighbourhood_budget(self, time_limit_s: float) -> int:
        """Neighbourhoods the search solves in deterministic mode."""
        if self.neighbourhoods is not None:
            return self.neighbourhoods
        return max(4, round(40 * time_limit_s))
