"""Run a scenario: the baseline and every variant, one KPI record each, and the report.

:func:`prepare` builds every variant's request up front (so a change-set that does not fit the
baseline is refused, with its line, before a single solve starts); :func:`run` solves them, in
parallel processes when there is more than one to solve and more than one worker allowed, with a
progress bar; :func:`write_outputs` writes the KPI table (CSV, Parquet), the PNG plots and a
one-page Markdown report linking them.

Reproducible: the same file and seed build the same requests (the generator and the demand
sampling are seeded), and the optimiser is deterministic when it proves its gap; a variant that
stops at its time limit is flagged ``feasible`` in the table and in the report, since how far it
got depends on the machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from tqdm import tqdm

from engine.checker import assert_valid
from engine.generate import Size, generate
from engine.optimizer import DEFAULT_BACKEND
from engine.solve import solve
from models.problems import InvalidInput
from models.validation import parse_solve_request
from scenarios import plots
from scenarios.changes import ChangeSetError, apply_changes, apply_policy, describe_changes
from scenarios.executors import map_tasks
from scenarios.kpi import (
    PERCENT_KPIS,
    KpiRecord,
    compute_kpis,
    deltas,
    format_table,
    kpi_table,
    markdown_table,
    unfilled_by_reason,
    verdicts,
)
from scenarios.schema import (
    BASELINE_NAME,
    ScenarioInvalid,
    ScenarioProblem,
    ScenarioSource,
    load_scenario,
    slug,
)

MAX_WORKERS = 2  # the machines we run on are shared; more processes only queue for the cores
MAX_LABELLED_LOCATIONS = 5  # changed locations named on a variant's map


@dataclass(frozen=True)
class VariantRequest:
    """A variant ready to solve: its name, what it changes (in words) and its request."""

    name: str
    description: str
    changes: list[str]
    request: dict[str, Any]


@dataclass(frozen=True)
class VariantResult:
    """A solved variant: its KPI record, request and response."""

    name: str
    kpis: KpiRecord
    request: dict[str, Any]
    response: dict[str, Any]


@dataclass
class ScenarioResult:
    """Everything a run produced: the KPI table (one row per variant, baseline first), each
    variant's request and response, and the files written (when an output directory was given)."""

    source: ScenarioSource
    seed: int
    variants: list[VariantRequest]
    results: list[VariantResult]
    kpis: pd.DataFrame
    seconds: float
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def baseline(self) -> VariantResult:
        return self.results[0]


# --- building the requests -------------------------------------------------------------------


def baseline_request(source: ScenarioSource, *, seed: int | None = None) -> dict[str, Any]:
    """The baseline request of a scenario, its ``policy`` applied. ``seed`` replaces the
    generator's seed. Raises :class:`ScenarioInvalid` for request files that cannot be read."""
    baseline = source.scenario.baseline
    if baseline.generate is not None:
        network = baseline.generate
        size: str | Size
        if network.size is not None:
            size = network.size
        else:
            # The schema's validator guarantees all three when no size name is given.
            assert network.orders is not None
            assert network.locations is not None and network.skus is not None
            size = Size(orders=network.orders, locations=network.locations, skus=network.skus)
        request = generate(size, network.seed if seed is None else seed)
    else:
        request = _merged_request_files(source)
    if baseline.policy is not None:
        request["policy"] = apply_policy(request.get("policy"), baseline.policy)
    return request


def _merged_request_files(source: ScenarioSource) -> dict[str, Any]:
    merged: dict[str, Any] = {"locations": [], "inventory": [], "orders": []}
    problems = []
    for index, name in enumerate(source.scenario.baseline.requests or []):
        path = source.base_dir / name
        loc = ("baseline", "requests", index)
        try:
            part = orjson.loads(path.read_bytes())
        except OSError as exc:
            problems.append((loc, f"cannot read {path}: {exc.strerror}"))
            continue
        except orjson.JSONDecodeError as exc:
            problems.append((loc, f"{path} is not valid JSON: {exc}"))
            continue
        if not isinstance(part, dict):
            problems.append((loc, f"{path} is not a solve request (a JSON object)"))
            continue
        for key in ("locations", "inventory", "orders"):
            merged[key].extend(part.get(key) or [])
        if "policy" in part:
            merged["policy"] = part["policy"]
    if problems:
        raise source.invalid(problems)
    return merged


def prepare(source: ScenarioSource, *, seed: int | None = None) -> list[VariantRequest]:
    """Every variant's request, baseline first, each validated against the solve contract.

    ``seed`` replaces the scenario's seed (demand sampling) and a generated baseline's seed.
    Raises :class:`ScenarioInvalid` listing, with lines, every change that does not fit the
    baseline and every variant whose request the contract refuses.
    """
    scenario = source.scenario
    baseline = baseline_request(source, seed=seed)
    demand_seed = scenario.seed if seed is None else seed
    prepared = [VariantRequest(BASELINE_NAME, "The network and batch as they are.", [], baseline)]
    positions: list[int] = []  # each prepared variant's place in the file
    problems = _contract_problems(source, ("baseline",), baseline)
    if problems:
        # Every variant would repeat the baseline's faults: report them once.
        raise ScenarioInvalid(problems, source.file)
    for index, variant in enumerate(scenario.variants):
        loc = ("variants", index)
        try:
            request = apply_changes(baseline, variant, seed=demand_seed)
        except ChangeSetError as error:
            problems.extend(
                source.problem((*loc, *path), msg, "change_set") for path, msg in error.problems
            )
            continue
        prepared.append(
            VariantRequest(variant.name, variant.description, describe_changes(variant), request)
        )
        positions.append(index)
    # by place in the file: a variant refused above must not shift the ones after it
    for variant_index, variant_request in zip(positions, prepared[1:], strict=True):
        problems.extend(
            _contract_problems(source, ("variants", variant_index), variant_request.request)
        )
    if problems:
        raise ScenarioInvalid(problems, source.file)
    return prepared


def _contract_problems(
    source: ScenarioSource, loc: tuple[str | int, ...], request: dict[str, Any]
) -> list[ScenarioProblem]:
    """What the solve contract refuses in a built request, reported at ``loc`` of the file
    (the first ten problems: the rest are usually the same fault again)."""
    try:
        parse_solve_request(request)
    except InvalidInput as error:
        return [
            source.problem(loc, f"the request is refused by the solve contract: {problem}",
                           "request_invalid")
            for problem in error.problems[:10]
        ]  # fmt: skip
    return []


# --- solving ---------------------------------------------------------------------------------


def solve_variant(
    name: str, request: dict[str, Any], backend: str = DEFAULT_BACKEND, check: bool = True
) -> VariantResult:
    """Solve one variant's request and compute its KPIs. Top-level, so worker processes can
    run it. With ``check``, the independent checker verifies the response first: a KPI computed
    from an allocation that breaks the contract would be worse than none."""
    parsed = parse_solve_request(request)
    response = solve(parsed, backend=backend)
    if check:
        assert_valid(parsed, response)
    return VariantResult(name, compute_kpis(name, request, response), request, response)


def run(
    source: ScenarioSource | str | Path,
    *,
    seed: int | None = None,
    workers: int = MAX_WORKERS,
    backend: str = DEFAULT_BACKEND,
    out_dir: str | Path | None = None,
    progress: bool = True,
    check: bool = True,
    ray: str | None = None,
) -> ScenarioResult:
    """Run a scenario (a parsed source or a file path): baseline and variants, KPIs, outputs.

    ``workers``: solver processes, at most :data:`MAX_WORKERS`; 1 solves in this process.
    ``ray``: solve the variants as Ray tasks instead (``"auto"``, an address, or ``"local"``;
    see :mod:`scenarios.executors`), for sweeps larger than one machine.
    ``out_dir``: when given, :func:`write_outputs` writes there. Raises :class:`ScenarioInvalid`
    for a bad scenario.
    """
    started = time.perf_counter()
    if not isinstance(source, ScenarioSource):
        source = load_scenario(source)
    variants = prepare(source, seed=seed)
    results = _solve_all(
        variants, workers=workers, backend=backend, progress=progress, check=check, ray=ray
    )
    result = ScenarioResult(
        source=source,
        seed=source.scenario.seed if seed is None else seed,
        variants=variants,
        results=results,
        kpis=kpi_table([r.kpis for r in results]),
        seconds=time.perf_counter() - started,
    )
    if out_dir is not None:
        result.outputs = write_outputs(result, Path(out_dir))
    return result


def _solve_all(
    variants: Sequence[VariantRequest],
    *,
    workers: int,
    backend: str,
    progress: bool,
    check: bool,
    ray: str | None = None,
) -> list[VariantResult]:
    workers = max(1, min(workers, MAX_WORKERS, len(variants), os.cpu_count() or 1))
    bar = tqdm(
        total=len(variants), desc="variants solved", unit="variant", disable=not progress,
        leave=False,
    )  # fmt: skip

    def solved(index: int, result: VariantResult) -> None:
        bar.set_postfix_str(variants[index].name)
        bar.update()

    try:
        return map_tasks(
            solve_variant,
            [(v.name, v.request, backend, check) for v in variants],
            workers=workers,
            ray=ray,
            on_done=solved,
        )
    finally:
        bar.close()


# --- outputs ---------------------------------------------------------------------------------


def write_outputs(result: ScenarioResult, out_dir: Path) -> dict[str, Path]:
    """KPI table (CSV, Parquet), plots (PNG) and ``report.md`` into ``out_dir``; returns the
    files by role. Deterministic names, so a rerun overwrites its previous report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    title = result.source.scenario.name
    table = result.kpis
    outputs: dict[str, Path] = {
        "csv": out_dir / "kpis.csv",
        "parquet": out_dir / "kpis.parquet",
        "kpi_plot": out_dir / "kpi_comparison.png",
        "mix_plot": out_dir / "unit_mix.png",
        "distance_plot": out_dir / "distance_histogram.png",
    }
    table.to_csv(outputs["csv"], float_format="%.6g")
    table.to_parquet(outputs["parquet"])
    plots.save(plots.kpi_comparison(table, BASELINE_NAME, title), outputs["kpi_plot"])
    plots.save(plots.unit_mix(table, title), outputs["mix_plot"])
    plots.save(
        plots.distance_histogram(ship_distances(result), title, BASELINE_NAME),
        outputs["distance_plot"],
    )
    baseline_locations = {loc["id"]: loc for loc in result.baseline.request["locations"]}
    for variant in result.results:
        key = f"map:{variant.name}"
        outputs[key] = out_dir / f"map_{slug(variant.name)}.png"
        changed = [
            loc["id"]
            for loc in variant.request["locations"]
            if baseline_locations.get(loc["id"]) != loc
        ]
        # A handful of changed locations is worth labelling; "every store" is not.
        labelled = changed if len(changed) <= MAX_LABELLED_LOCATIONS else []
        plots.save(
            plots.flow_map(variant.request, variant.response, variant.name, labelled), outputs[key]
        )
    outputs["report"] = out_dir / "report.md"
    outputs["report"].write_text(render_report(result, outputs), encoding="utf-8")
    return outputs


def ship_distances(result: ScenarioResult) -> dict[str, list[float]]:
    """Per variant, the distances (km) of its ship shipments."""
    distances = {}
    for variant in result.results:
        delivery = {order["id"]: order["delivery"] for order in variant.request["orders"]}
        distances[variant.name] = [
            s["distance_km"]
            for s in variant.response["shipments"]
            if delivery[s["order_id"]] == "ship"
        ]
    return distances


def render_report(result: ScenarioResult, outputs: dict[str, Path]) -> str:
    """The one-page Markdown report: what was compared, the KPI table, the plots, the caveats."""
    scenario = result.source.scenario
    baseline = result.baseline.kpis
    lines = [
        f"# {scenario.name}",
        "",
        scenario.description.strip() or "",
        "",
        f"Scenario file `{result.source.file or '(inline)'}`, seed {result.seed}. Baseline: "
        f"{baseline.orders:,} orders, {baseline.units_requested:,} units, "
        f"{len(result.baseline.request['locations']):,} locations. "
        f"{len(result.results)} runs in {result.seconds:.0f} s.",
        "",
        "## Variants",
        "",
    ]
    for variant in result.variants:
        changes = "; ".join(variant.changes) if variant.changes else "no change"
        description = f" {variant.description.strip()}" if variant.description.strip() else ""
        lines.append(f"- **{variant.name}**:{description} _({changes})_")
    lines += [
        "",
        "## Against the baseline",
        "",
        "Verdict in the contract's order: fill by priority first (highest down, as rates), then "
        "cost (the total on the same demand, per unit allocated on other demand). Every variant "
        "answers the same demand unless it changes demand itself: orders it cancels count as "
        "unfilled.",
        "",
        _delta_table(result.kpis),
        "",
        "## KPIs",
        "",
        markdown_table(result.kpis),
        "",
    ]
    # The greedy rules never prove anything; only an optimiser run can stop short.
    stopped = [
        r.name
        for r in result.results
        if r.kpis.solver_status != "optimal" and r.kpis.strategy != "greedy"
    ]
    if stopped:
        lines += [
            f"> **Note:** {', '.join(stopped)} stopped at the time limit before proving the "
            "optimum (status `feasible`); their cost figures are upper bounds and may differ "
            "slightly on a faster or busier machine. Raise `time_limit_s` in the scenario's "
            "baseline policy for a proven answer.",
            "",
        ]
    lines += [
        "Definitions: fill rate = units allocated / requested; split rate = orders served by more "
        "than one location / orders served; mean distance over ship shipments only; stores at "
        "zero stock = stores the batch emptied completely; store positions emptied = store skus "
        "taken from some stock to none. Full definitions: `scenarios/kpi.py`.",
        "",
        f"Table as [CSV]({outputs['csv'].name}) and [Parquet]({outputs['parquet'].name}).",
        "",
        "## Why units went unfilled",
        "",
        "Units unfilled by the reason the engine gives for each line (see "
        "`models/solve.py`, `UnallocatedReason`); `cancelled`: orders the variant cancelled "
        "(pickups at a closed store), counted as unfilled demand:",
        "",
        _reason_table(result),
        "",
        "## Plots",
        "",
        f"![KPIs per variant]({outputs['kpi_plot'].name})",
        "",
        f"![Where units come from]({outputs['mix_plot'].name})",
        "",
        f"![Shipment distances]({outputs['distance_plot'].name})",
        "",
        "## Flow maps",
        "",
    ]
    for done in result.results:
        path = outputs[f"map:{done.name}"]
        lines += [f"### {done.name}", "", f"![Flows: {done.name}]({path.name})", ""]
    return "\n".join(lines)


# The headline changes against the baseline, with the unit they are shown in.
_HEADLINE_DELTAS: tuple[tuple[str, str, str], ...] = (
    ("fill_rate", "fill", "{:+.1f} pt"),
    ("units_unfilled", "units unfilled", "{:+,.0f}"),
    ("total_cost", "total cost", "{:+,.2f}"),
    ("cost_per_unit", "cost per unit", "{:+.2f}"),
    ("mean_distance_km", "mean distance", "{:+,.0f} km"),
    ("store_unit_share", "units from stores", "{:+.1f} pt"),
    ("store_positions_emptied", "store positions emptied", "{:+,.0f}"),
)


def _delta_table(table: pd.DataFrame) -> str:
    change = deltas(table, BASELINE_NAME)
    verdict = verdicts(table, BASELINE_NAME)
    lines = [
        "| variant | verdict | " + " | ".join(label for _, label, _ in _HEADLINE_DELTAS) + " |",
        "|---|---|" + "---:|" * len(_HEADLINE_DELTAS),
    ]
    for variant in change.index.drop(BASELINE_NAME):
        cells = [verdict[variant]]
        for kpi, _, fmt in _HEADLINE_DELTAS:
            value = float(change.loc[variant, kpi]) * (100.0 if kpi in PERCENT_KPIS else 1.0)
            cells.append("0" if abs(value) < 1e-9 else fmt.format(value))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _reason_table(result: ScenarioResult) -> str:
    counts = pd.DataFrame(
        {
            variant.name: unfilled_by_reason(variant.request, variant.response)
            for variant in result.results
        }
    )
    if counts.empty:
        return "_Every unit was filled in every variant._"
    counts = counts.fillna(0).astype(int)
    lines = [
        "| reason | " + " | ".join(counts.columns) + " |",
        "|---|" + "---:|" * len(counts.columns),
    ]
    for reason, row in counts.iterrows():
        lines.append(f"| {reason} | " + " | ".join(f"{v:,}" for v in row.tolist()) + " |")
    return "\n".join(lines)


def print_summary(result: ScenarioResult, echo: Callable[[str], None] = print) -> None:
    """The KPI table and the files written, for the terminal."""
    echo(f"{result.source.scenario.name}  (seed {result.seed}, {result.seconds:.1f} s)")
    echo(format_table(result.kpis))
    if result.outputs:
        echo(f"report: {result.outputs['report']}")
