"""The benchmark's outputs: the Markdown table, the targets (met / not met / not measured), the plot.

Everything here reads: ``results.json`` (what the engine did) and ``best_known.json`` (what
``python -m benchmarks.exact`` proved offline). Nothing here writes ``best_known.json``: a best
known solution is never the engine's answer under test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

SIZE_ORDER = ("S", "M", "L", "XL")
STRATEGY_ORDER = ("greedy", "greedy-cheapest", "optimal", "naive")

# The XL cost target of issue 9: better than the engine before the rewrite. Its optimal row in
# benchmarks/results.md at commit be45dce (time limit 240 s, 2026-11-27); the cost compares only at
# a fill at least as high at every priority.
PREVIOUS_XL_COMMIT = "be45dce"
PREVIOUS_XL_COST = 1_781_738.98
PREVIOUS_XL_FILL = {"2": 13_292, "1": 52_947, "0": 370_808}

S_GAP_TARGET = 1e-4
M_COST_TARGET, M_GAP_TARGET = 0.003, 0.025
L_COST_TARGET, L_GAP_TARGET = 0.01, 0.03
WALL_TARGET = 0.10  # at most 10% over the time limit, parse and response writing included
XL_MEMORY_TARGET_MIB = 8 * 1024.0
LATENCY_TARGET_MS = 10.0

MET, NOT_MET = "met", "not met"
NO_BEST_KNOWN = "not measured (no best known)"
NOT_RUN = "not measured (not run)"
INFORMATIONAL = "informational"
REQUIRED_BEST_KNOWN_FIELDS = ("fill", "cost", "bound", "solver", "command")


class Target(NamedTuple):
    """One line of the targets table: where, what, the honest figure, and the verdict."""

    scope: str
    target: str
    measured: str
    verdict: str


@dataclass(frozen=True)
class BestKnown:
    """``best_known.json`` as read: the usable entries, and the ones refused with the reason."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def load_best_known(path: Path) -> BestKnown:
    """Read ``best_known.json``; an entry not written by ``benchmarks/exact.py`` is refused.

    An entry without a solver, a command and a bound (the format the engine's own answers used to
    be stored in) cannot be told apart from the answer under test, so it is reported as refused and
    its instance as having no best known. A missing file means no best known anywhere.
    Raises ``ValueError`` naming the file when it is not a JSON object.
    """
    if not path.exists():
        return BestKnown()
    raw = json.loads(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(
            f"{path}: expected a JSON object keyed by instance, got {type(raw).__name__}"
        )
    entries, refused = {}, {}
    for name, entry in raw.items():
        missing = [
            f for f in REQUIRED_BEST_KNOWN_FIELDS if not isinstance(entry, dict) or f not in entry
        ]
        if missing:
            refused[name] = f"lacks {', '.join(missing)}: not an offline exact solution, ignored"
        elif not all(isinstance(v, int) for v in entry["fill"].values()):
            refused[name] = "fill is not units per priority, ignored"
        else:
            entries[name] = entry
    return BestKnown(entries, refused)


def split_instance(name: str) -> tuple[str, int]:
    """``"M-seed2"`` -> ``("M", 2)``."""
    size, _, seed = name.partition("-seed")
    return size, int(seed)


def instance_sort_key(name: str) -> tuple[int, int]:
    size, seed = split_instance(name)
    return (SIZE_ORDER.index(size) if size in SIZE_ORDER else len(SIZE_ORDER), seed)


def _priorities(fill: dict[str, int]) -> list[str]:
    return sorted(fill, key=int, reverse=True)


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if abs(value) < 0.5 * 10 ** -(digits + 2):
        return f"{0:.{digits}f}%"  # no "-0.00%"
    return f"{100.0 * value:+.{digits}f}%"


def over(cost: float | None, reference: float | None) -> float | None:
    """How far a cost is above a reference cost: (cost - reference) / reference."""
    if cost is None or reference is None or reference <= 0:
        return None
    return (cost - reference) / reference


def gap_to(cost: float | None, bound: float | None) -> float | None:
    """The gap to a lower bound as the engine reports it: (cost - bound) / cost."""
    if cost is None or bound is None:
        return None
    if cost <= 1e-9:
        return 0.0
    return (cost - bound) / cost


def fill_difference(fill: dict[str, int], reference: dict[str, int]) -> dict[str, int]:
    """Units per priority above (positive) or below (negative) a reference fill."""
    return {
        p: fill.get(p, 0) - reference.get(p, 0)
        for p in sorted(set(fill) | set(reference), key=int, reverse=True)
    }


def describe_fill_difference(difference: dict[str, int]) -> str:
    """``"equal"``, or the priorities that differ: ``"p1 -2 · p0 +31"``."""
    differing = [f"p{p} {d:+,}" for p, d in difference.items() if d]
    return " · ".join(differing) if differing else "equal"


# --- targets ----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return MET if ok else NOT_MET


def _fill_vs_best(
    case: dict[str, Any], known: dict[str, Any] | None, exact: bool
) -> tuple[str, str]:
    """Fill against the best known: equal (S) or at least (M), at every priority."""
    if known is None:
        return "no best known", NO_BEST_KNOWN
    difference = fill_difference(case["fill"], known["fill"])
    measured = f"{_fill_text(case['fill'])} vs best known {describe_fill_difference(difference)}"
    if any(d < 0 for d in difference.values()):
        return measured, NOT_MET
    if any(d > 0 for d in difference.values()):
        note = "; the engine fills more: the best known is not optimal"
        if exact:
            return measured + note, "not measured (the best known is not the optimum)"
        return measured + note, MET
    return measured, MET


def _fill_vs_greedy(case: dict[str, Any], greedy: dict[str, Any]) -> tuple[str, str]:
    if "fill" not in greedy:
        return "greedy not run", "not measured (greedy not run)"
    difference = fill_difference(case["fill"], greedy["fill"])
    measured = f"{_fill_text(case['fill'])} vs greedy {describe_fill_difference(difference)}"
    return measured, _verdict(all(d >= 0 for d in difference.values()))


def _gap_target(case: dict[str, Any], limit: float | None) -> tuple[str, str]:
    gap = case.get("gap")
    if gap is None:
        return "no gap reported", "not measured (no gap reported)"
    measured = f"gap {gap:.3%} (bound {_fmt(case.get('bound'))})"
    if limit is None:
        return measured, INFORMATIONAL
    return measured, _verdict(gap <= limit + 1e-12)


def _cost_vs_best(
    case: dict[str, Any], known: dict[str, Any] | None, limit: float
) -> tuple[str, str] | None:
    """Cost over the best known at equal fill; None when there is no best known."""
    if known is None:
        return None
    difference = fill_difference(case["fill"], known["fill"])
    if any(d < 0 for d in difference.values()):
        return (
            f"fill below the best known's ({describe_fill_difference(difference)}): "
            "cost not comparable",
            NOT_MET,
        )
    if any(d > 0 for d in difference.values()):
        return (
            f"fill above the best known's ({describe_fill_difference(difference)}): cost not "
            "comparable",
            "not measured (the best known is not optimal)",
        )
    excess = over(case["cost"], known["cost"])
    assert excess is not None
    return f"{_fmt(case['cost'])} vs {_fmt(known['cost'])} ({_pct(excess, 3)})", _verdict(
        excess <= limit + 1e-12
    )


def _fill_text(fill: dict[str, int]) -> str:
    return " · ".join(f"p{p} {fill[p]:,}" for p in _priorities(fill))


def _size_targets(
    size: str, case: dict[str, Any], greedy: dict[str, Any], known: dict[str, Any] | None
) -> list[tuple[str, tuple[str, str]]]:
    """(target, (measured, verdict)) for one instance's optimal case, by its size's targets."""
    if size == "S":
        # "optimal" proves the target only when the run asked for the target's precision
        asked = case.get("relative_gap")
        cost_note = (
            f", cost {_pct(over(case['cost'], known['cost']), 3)} vs best known"
            if known is not None and known["fill"] == case["fill"]
            else ""
        )
        return [
            (
                "fill equals the best known's, every priority",
                _fill_vs_best(case, known, exact=True),
            ),
            (
                'status "optimal" (relative_gap 1e-4)',
                (
                    f"{case.get('status')} at relative_gap {asked if asked is not None else '?'}"
                    f"{cost_note}",
                    _verdict(
                        case.get("status") == "optimal"
                        and asked is not None
                        and asked <= S_GAP_TARGET
                    ),
                ),
            ),
            ("reported gap <= 1e-4", _gap_target(case, S_GAP_TARGET)),
        ]
    if size == "M":
        return [
            (
                "fill at least the best known's, every priority",
                _fill_vs_best(case, known, exact=False),
            ),
            (
                "cost <= +0.3% over the best known, at equal fill",
                _cost_vs_best(case, known, M_COST_TARGET) or ("no best known", NO_BEST_KNOWN),
            ),
            ("reported gap <= 2.5%", _gap_target(case, M_GAP_TARGET)),
        ]
    if size == "L":
        cost = _cost_vs_best(case, known, L_COST_TARGET)
        if cost is None:
            bound = case.get("bound")
            excess = over(case["cost"], bound)
            cost = (
                (
                    f"no best known; {_fmt(case['cost'])} vs the reported bound "
                    f"{_fmt(bound)} ({_pct(excess, 3)})",
                    _verdict(excess <= L_COST_TARGET + 1e-12),
                )
                if excess is not None
                else (f"no best known; reported bound {bound}: proves nothing", NOT_MET)
            )
        return [
            ("fill >= greedy's, every priority", _fill_vs_greedy(case, greedy)),
            ("cost <= +1% over the best known (none: the reported bound)", cost),
            ("reported gap <= 3%", _gap_target(case, L_GAP_TARGET)),
        ]
    if size == "XL":
        difference = fill_difference(case["fill"], PREVIOUS_XL_FILL)
        lower = any(d < 0 for d in difference.values())
        measured = f"{_fmt(case['cost'])} ({_pct(over(case['cost'], PREVIOUS_XL_COST), 3)})" + (
            f"; fill vs {PREVIOUS_XL_COMMIT}: {describe_fill_difference(difference)}"
        )
        return [
            ("fill >= greedy's, every priority", _fill_vs_greedy(case, greedy)),
            (
                f"cost < {PREVIOUS_XL_COST:,.2f} ({PREVIOUS_XL_COMMIT}), at no lower fill",
                (measured, _verdict(case["cost"] < PREVIOUS_XL_COST and not lower)),
            ),
            ("reported gap", _gap_target(case, None)),
        ]
    return []


# Each size's target names, for the instances not run (a case with no figures gives them).
TARGET_NAMES = {
    size: [name for name, _ in _size_targets(size, {"fill": {}, "cost": 0.0}, {}, None)]
    for size in SIZE_ORDER
}


def _wall_target(case: dict[str, Any], limit: float) -> Target | None:
    name = f"wall <= 1.1 x the time limit ({limit:g} s)"
    if "wall_s" not in case:
        return None
    measured = f"{case['wall_s']:.2f} s ({case['wall_s'] / limit:.1%} of the limit)"
    if "error" in case:
        return Target("", name, f"{measured}: {case['error']}", NOT_MET)
    return Target("", name, measured, _verdict(case["wall_s"] <= (1.0 + WALL_TARGET) * limit))


def _memory_target(case: dict[str, Any]) -> Target:
    name = "peak memory <= 8 GiB"
    if "peak_mib" in case:
        return Target(
            "",
            name,
            f"{case['peak_mib'] / 1024:.2f} GiB",
            _verdict(case["peak_mib"] <= XL_MEMORY_TARGET_MIB),
        )
    seen = case.get("peak_mib_seen")
    if seen is None:
        return Target("", name, case.get("error", "–"), NOT_RUN)
    # Killed or crashed: the peak watched from outside up to that moment.
    measured = f"{seen / 1024:.2f} GiB until {case.get('error', 'it stopped')}"
    return Target(
        "",
        name,
        measured,
        NOT_MET if seen > XL_MEMORY_TARGET_MIB else "not measured (did not finish)",
    )


def evaluate_targets(
    results: dict[str, Any], best: BestKnown, protocol: dict[str, list[int]]
) -> list[Target]:
    """Every target of issue 9, per instance, for the optimal strategy; then the latency.

    ``protocol`` (size -> seeds: the benchmark's ``benchmarks.run.SEEDS``) names the instances that
    must appear even when they were not run: each of their targets is then "not measured (not run)".
    """
    instances = results.get("instances", {})
    names = {f"{size}-seed{seed}" for size, seeds in protocol.items() for seed in seeds}
    rows: list[Target] = []
    for name in sorted(names | set(instances), key=instance_sort_key):
        size, _ = split_instance(name)
        entry = instances.get(name)
        case = entry["cases"].get("optimal") if entry else None
        targets: list[Target] = []
        if case is None:
            targets = [Target(name, t, "–", NOT_RUN) for t in TARGET_NAMES.get(size, [])]
        elif "fill" not in case:
            reason = case.get("error") or case.get("status") or "no allocation"
            targets = [Target(name, t, reason, NOT_MET) for t in TARGET_NAMES.get(size, [])]
        else:
            assert entry is not None
            known = best.entries.get(name)
            greedy = entry["cases"].get("greedy", {})
            targets = [
                Target(name, t, measured, verdict)
                for t, (measured, verdict) in _size_targets(size, case, greedy, known)
            ]
            targets.append(
                Target(
                    name,
                    "the checker finds no broken rule",
                    f"{case.get('n_violations', 0)} violations",
                    _verdict(case.get("n_violations", 0) == 0),
                )
            )
        if case is not None and entry is not None:
            wall = _wall_target(case, entry["time_limit_s"])
            if wall is not None:
                targets.append(wall._replace(scope=name))
        if size == "XL":
            targets.append(_memory_target(case or {})._replace(scope=name))
        rows += targets
    local = results.get("latency", {}).get("in_process_median_ms")
    rows.append(
        Target(
            "single order",
            f"median <= {LATENCY_TARGET_MS:g} ms in process",
            _fmt(local, 1, " ms"),
            NOT_RUN if local is None else _verdict(local <= LATENCY_TARGET_MS),
        )
    )
    return rows


# --- the table --------------------------------------------------------------------------------


def _case_row(
    name: str,
    strategy: str,
    case: dict[str, Any],
    entry: dict[str, Any],
    known: dict[str, Any] | None,
) -> str:
    size, seed = split_instance(name)
    head = f"| {size} | {seed} | {strategy} |"
    limit = entry["time_limit_s"]
    if "skipped" in case or "error" in case:
        reason = case.get("skipped") or case.get("error")
        wall = case.get("wall_s")
        wall_cell = "–" if wall is None else f"{wall:.2f} ({wall / limit:.0%})"
        return (
            f"{head} {reason} | {wall_cell} | {_fmt(case.get('peak_mib_seen'), 0)} |" + " – |" * 12
        )
    wall_cell = f"{case['wall_s']:.2f} ({case['wall_s'] / limit:.0%})"
    if "fill" not in case:
        return (
            f"{head} {case.get('status')} | {wall_cell} | {_fmt(case['peak_mib'], 0)} | no allocation "
            f"(build {_fmt(case.get('build_s'), 1)} s, {case.get('n_variables', 0):,} variables) |"
            + " – |"
            * 11
        )
    fill = " · ".join(
        f"p{p} {case['fill'][p]:,}/{case['requested'].get(p, 0):,}"
        for p in _priorities(case["fill"])
    )
    status = str(case.get("status", ""))
    if case.get("n_violations"):
        status += f" ({case['n_violations']} RULE VIOLATIONS)"
    if known is not None:
        difference = fill_difference(case["fill"], known["fill"])
        equal = not any(difference.values())
        fill_vs_best = describe_fill_difference(difference)
        cost_vs_best = _pct(over(case["cost"], known["cost"]), 3) if equal else "–"
        gap_vs_bound = _pct(gap_to(case["cost"], known["bound"]), 3) if equal else "–"
    else:
        fill_vs_best = cost_vs_best = gap_vs_bound = "no best known"
    greedy = entry["cases"].get("greedy", {})
    if strategy != "greedy" and "fill" in greedy:
        # Cost and splits compare with greedy only at a fill no lower at any priority.
        less = any(d < 0 for d in fill_difference(case["fill"], greedy["fill"]).values())
        cost_vs_greedy = "less fill" if less else _pct(over(case["cost"], greedy["cost"]))
        splits_vs_greedy = (
            "less fill" if less else _pct(over(case["split_orders"], greedy["split_orders"]))
        )
    else:
        cost_vs_greedy = splits_vs_greedy = "–"
    gap = case.get("gap")
    return (
        f"{head} {status} | {wall_cell} | {_fmt(case['peak_mib'], 0)} | {fill} | {_fmt(case['cost'])} | "
        f"{case['shipments']:,} | {case['split_orders']:,} | {_fmt(case.get('bound'))} | "
        f"{_pct(gap, 3) if gap is not None else '–'} | {fill_vs_best} | {cost_vs_best} | {gap_vs_bound} | "
        f"{cost_vs_greedy} | {splits_vs_greedy} |"
    )


def _best_known_section(results: dict[str, Any], best: BestKnown) -> list[str]:
    lines = [
        "",
        "## Best known solutions",
        "",
        "From `benchmarks/best_known.json`, written only by `python -m benchmarks.exact` (HiGHS' full "
        "MIP over every candidate, lexicographic: fill per priority, then cost; checked by "
        "`engine/checker.py`), never by this benchmark. Proven: HiGHS closed every stage.",
        "",
        "| instance | fill by priority | cost | bound | proven optimal | solver | command | found at |",
        "|---|---|--:|--:|---|---|---|---|",
    ]
    for name in sorted(best.entries, key=instance_sort_key):
        known = best.entries[name]
        proven = (
            "yes"
            if known.get("proven_optimal")
            else ("fills only" if known.get("fills_proven") else "no")
        )
        lines.append(
            f"| {name} | {_fill_text(known['fill'])} | {_fmt(known['cost'])} | {_fmt(known['bound'])} | "
            f"{proven} | {known['solver']} | `{known['command']}` | {known.get('found_at', '?')} |"
        )
    missing = sorted(set(results.get("instances", {})) - set(best.entries), key=instance_sort_key)
    notes = []
    if missing:
        notes.append(
            f"No best known for {', '.join(missing)}: the targets against a best known say "
            '"not measured" there. At L the cost target uses the engine\'s reported bound instead; at '
            f"XL the cost compares with the engine before the rewrite ({PREVIOUS_XL_COST:,.2f} at "
            f"commit {PREVIOUS_XL_COMMIT})."
        )
    notes += [f"Refused entry {name}: {why}." for name, why in sorted(best.refused.items())]
    return lines + (["", *notes] if notes else [])


def _lp_section(instances: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## LP relaxation in HiGHS (highspy, every candidate, strong linking rows)",
        "",
        "An independent bound at each strategy's fill, next to the engine's own reported bound.",
        "",
        "| instance | at the fill of | columns | rows | nonzeros | build s (numpy) | HiGHS solve s | status | bound |",
        "|---|---|--:|--:|--:|--:|--:|---|--:|",
    ]
    solved = [n for n in instances if "skipped" not in instances[n].get("lp", {"skipped": ""})]
    if not solved:
        return []
    for name in sorted(solved, key=instance_sort_key):
        lp = instances[name]["lp"]
        if "skipped" in lp or "error" in lp:
            lines.append(
                f"| {name} | – | – | – | – | – | – | {lp.get('skipped') or lp.get('error')} | – |"
            )
            continue
        for strategy, row in lp.items():
            if not isinstance(row, dict):
                continue
            if "same_as" in row:
                lines.append(
                    f"| {name} | {strategy} | same fill as {row['same_as']}: same LP, not solved again | | | | | | {_fmt(row['bound'])} |"
                )
                continue
            lines.append(
                f"| {name} | {strategy} | {row['columns']:,} | {row['rows']:,} | {row['nonzeros']:,} | {_fmt(row['build_s'])} | {_fmt(row['solve_s'])}{' (warm start)' if row.get('warm_start') else ''} | {row['status']} | {_fmt(row['bound'])} |"
            )
    return lines


def _bold(verdict: str) -> str:
    return f"**{verdict}**" if verdict in (MET, NOT_MET) else verdict


def _speed_line(speed: dict[str, float] | None) -> str:
    """The machine's speed on fixed work (:mod:`benchmarks.calibration`)."""
    if not speed:
        return "Machine speed: not measured in this run."
    return (
        "Machine speed (fixed work, best of 3, seconds; lower is faster, see "
        "`benchmarks/calibration.py`): "
        f"Python loop {speed.get('python_s', '?')}, numpy sort {speed.get('numpy_s', '?')}, "
        f"HiGHS LP {speed.get('highs_s', '?')}."
    )


def write_table(results: dict[str, Any], best: BestKnown, protocol: dict[str, list[int]]) -> str:
    """The results page: machine, one row per instance x strategy, best knowns, LP, targets."""
    machine = results.get("machine", {})
    instances = results.get("instances", {})
    lines = [
        "# Benchmark results",
        "",
        "Generated by `omnibroker bench` (`make bench`); the protocol is in [PROTOCOL.md](PROTOCOL.md). "
        "Do not edit by hand: rerun.",
        "",
        f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('memory_gib', '?')} GiB; "
        f"Python {machine.get('python', '?')}, OR-Tools {machine.get('ortools', '?')}, numpy {machine.get('numpy', '?')}; "
        f"commit {machine.get('commit', '?')}; last run {machine.get('date', '?')}. "
        "The machine is shared: wall times carry noise from other work running at the same time.",
        "",
        _speed_line(machine.get("speed")),
        "",
        "Runs: "
        + "; ".join(
            f"{name} at {entry.get('run_at', '?')} (commit {entry.get('commit', '?')}, time limit "
            f"{entry.get('time_limit_s', '?')} s, relative_gap {entry.get('relative_gap', '?')})"
            for name in sorted(instances, key=instance_sort_key)
            if (entry := instances[name])
        )
        + ". Each run uses the working tree of that moment.",
        "",
        "What the figures say and what stands in the way of the targets not met: "
        "[ANALYSIS.md](ANALYSIS.md).",
        "",
        "Wall: JSON bytes in to JSON bytes out, in seconds and as a share of the time limit. "
        "Reported bound and gap: the engine's own `solver.bound` and `solver.gap` "
        "((cost - bound) / cost). Against the best known solution (see below): the fill difference "
        "per priority (+ more units, - fewer), and only at equal fill the cost over it "
        "((cost - best) / best) and the gap to its proven bound ((cost - bound) / cost). Against "
        "greedy (same run): cost and split orders, (x - greedy) / greedy, only at a fill no lower "
        "at any priority.",
        "",
        "| size | seed | strategy | status | wall s (% of limit) | peak MiB | units filled/requested by priority | cost | shipments | split orders | reported bound | reported gap | fill vs best known | cost vs best known | gap to best known's bound | cost vs greedy | splits vs greedy |",
        "|---|--:|---|---|--:|--:|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|",
    ]
    for name in sorted(instances, key=instance_sort_key):
        entry = instances[name]
        for strategy in STRATEGY_ORDER:
            case = entry["cases"].get(strategy)
            if case is not None:
                lines.append(_case_row(name, strategy, case, entry, best.entries.get(name)))
    lines += _best_known_section(results, best)
    lines += _lp_section(instances)
    latency = results.get("latency")
    if latency:
        lines += [
            "",
            "## Single-order requests (checkout)",
            "",
            f"{latency.get('requests', 0)} requests, each one order of the M instance against every location and "
            "every inventory row of its skus, strategy optimal.",
            "",
            "| where | median ms | p95 ms |",
            "|---|--:|--:|",
            f"| in process (parse + solve + JSON) | {_fmt(latency.get('in_process_median_ms'), 1)} | {_fmt(latency.get('in_process_p95_ms'), 1)} |",
            f"| over HTTP (uvicorn, keep-alive client) | {_fmt(latency.get('http_median_ms'), 1)} | {_fmt(latency.get('http_p95_ms'), 1)} |",
        ]
    lines += [
        "",
        "## Targets (issue 9)",
        "",
        'Each for the optimal strategy, per instance. "Not measured" says why no verdict can be '
        "given; it is never counted as met.",
        "",
        "| instance | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    for target in evaluate_targets(results, best, protocol):
        lines.append(
            f"| {target.scope} | {target.target} | {target.measured} | {_bold(target.verdict)} |"
        )
    lines.append("")
    return "\n".join(lines)


# --- the plot ---------------------------------------------------------------------------------


def write_plot(results: dict[str, Any], best: BestKnown, path: Path) -> None:
    """Wall time and cost per unit filled against batch size (orders), one colour per strategy.

    A point per instance (seeds of a size share an x), a line through each size's median. A case
    that filled nothing is a hollow marker (its time is real, its answer is not); a case killed or
    crashed is a black cross at the time it was stopped. The legend sits below the axes, and
    names only what is drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    instances = results.get("instances", {})
    fig, (ax_time, ax_cost) = plt.subplots(1, 2, figsize=(11, 5.2))
    colours = dict(zip(STRATEGY_ORDER, ("C0", "C1", "C2", "C3"), strict=True))
    markers = dict(zip(STRATEGY_ORDER, ("o", "v", "s", "^"), strict=True))
    by_name = sorted(instances, key=instance_sort_key)
    handles: dict[str, Any] = {}
    for strategy in STRATEGY_ORDER:
        points = [
            (instances[n]["size"]["orders"], instances[n]["cases"][strategy])
            for n in by_name
            if strategy in instances[n]["cases"]
        ]
        style = {"color": colours[strategy], "marker": markers[strategy]}
        answered = [(x, c) for x, c in points if sum(c.get("fill", {}).values()) > 0]
        empty = [
            (x, c)
            for x, c in points
            if "wall_s" in c and "error" not in c and sum(c.get("fill", {}).values()) == 0
        ]
        failed = [(x, c["wall_s"]) for x, c in points if "error" in c and "wall_s" in c]
        if answered:
            xs = [x for x, _ in answered]
            walls = [c["wall_s"] for _, c in answered]
            ax_time.plot(xs, walls, linestyle="", alpha=0.6, **style)
            medians = _medians(xs, walls)
            handles[strategy] = ax_time.plot(*medians, label=strategy, **style)[0]
            # Per unit filled, not per order: a strategy that fills less must not look cheaper.
            per_unit = [c["cost"] / sum(c["fill"].values()) for _, c in answered]
            ax_cost.plot(xs, per_unit, linestyle="", alpha=0.6, **style)
            ax_cost.plot(*_medians(xs, per_unit), **style)
        if empty:
            label = f"{strategy}: filled nothing"
            handles[label] = ax_time.plot(
                [x for x, _ in empty],
                [c["wall_s"] for _, c in empty],
                linestyle="",
                markerfacecolor="none",
                markersize=10,
                label=label,
                **style,
            )[0]
        if failed:
            handles["killed / crashed"] = ax_time.plot(
                *zip(*failed, strict=True),
                linestyle="",
                marker="x",
                color="black",
                markersize=9,
                label="killed / crashed",
            )[0]
            for x, wall in failed:
                ax_time.annotate(
                    strategy, (x, wall), textcoords="offset points", xytext=(-8, 6), ha="right"
                )
    limits = sorted({(e["size"]["orders"], e["time_limit_s"]) for e in instances.values()})
    if limits:
        handles["time limit"] = ax_time.plot(
            *zip(*limits, strict=True),
            linestyle="",
            marker="_",
            markersize=22,
            color="red",
            label="time limit",
        )[0]
    known = [
        (instances[n]["size"]["orders"], b["cost"] / max(1, sum(b["fill"].values())))
        for n in by_name
        if (b := best.entries.get(n)) is not None
    ]
    if known:
        handles["best known (offline HiGHS)"] = ax_cost.plot(
            *zip(*known, strict=True),
            linestyle="",
            marker="D",
            markerfacecolor="none",
            color="black",
            label="best known (offline HiGHS)",
        )[0]
    ax_time.set(
        xscale="log",
        yscale="log",
        xlabel="orders in the batch",
        ylabel="wall seconds, JSON in to JSON out",
        title="Time",
    )
    ax_cost.set(
        xscale="log",
        xlabel="orders in the batch",
        ylabel="total cost per unit filled",
        title="Cost per unit filled (cases that filled something)",
    )
    for ax in (ax_time, ax_cost):
        ax.grid(True, which="both", alpha=0.3)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="lower center",
            ncol=min(4, len(handles)),
            frameon=False,
        )
    rows = (len(handles) + 3) // 4
    fig.tight_layout(rect=(0.0, 0.05 * rows + 0.02, 1.0, 1.0))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _medians(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """The median y per distinct x, in x order: the line through a size's seeds."""
    import statistics

    grouped: dict[float, list[float]] = {}
    for x, y in zip(xs, ys, strict=True):
        grouped.setdefault(x, []).append(y)
    keys = sorted(grouped)
    return keys, [statistics.median(grouped[k]) for k in keys]
