"""The benchmark's outputs: the Markdown table with the targets (met / not met) and the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SIZE_ORDER = ("S", "M", "L", "XL")
STRATEGY_ORDER = ("greedy", "greedy-cheapest", "optimal", "naive")


def _priorities(fill: dict[str, int]) -> list[str]:
    return sorted(fill, key=int, reverse=True)


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{100.0 * value:+.2f}%" if abs(value) >= 5e-5 else "0.00%"  # no "-0.00%"


def _gap(cost: float | None, bound: float | None) -> float | None:
    if cost is None or bound is None:
        return None
    return (cost - bound) / max(abs(cost), 1e-9)


def lp_bound_for(entry: dict[str, Any], strategy: str) -> float | None:
    lp = entry.get("lp", {}).get(strategy)
    return None if not isinstance(lp, dict) else lp.get("bound")


def evaluate_targets(results: dict[str, Any], best: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, met / not met / not measured) for each target of the issue."""
    rows: list[tuple[str, str, str]] = []
    sizes = results.get("sizes", {})

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("**met**" if ok else "**not met**")

    medium = sizes.get("M")
    if medium:
        greedy = medium["cases"].get("greedy", {})
        optimal = medium["cases"].get("optimal", {})
        if "fill" in greedy and "fill" in optimal:
            worse = [p for p in greedy["fill"] if optimal["fill"].get(p, 0) < greedy["fill"][p]]
            rows.append(
                (
                    "M: fill never below greedy's at any priority",
                    ", ".join(
                        f"p{p}: {optimal['fill'][p]} vs {greedy['fill'][p]}"
                        for p in _priorities(greedy["fill"])
                    ),
                    verdict(not worse and optimal.get("n_violations", 0) == 0),
                )
            )
            bound = lp_bound_for(medium, "optimal")
            gap = _gap(optimal.get("cost"), bound)
            rows.append(
                (
                    "M: cost within 1% of the LP bound at the fill reached",
                    f"gap {_pct(gap)}" if gap is not None else "no LP bound",
                    verdict(None if gap is None else gap <= 0.01),
                )
            )
            known = best.get(medium["instance"])
            gap_best = (
                _gap(optimal.get("cost"), known["cost"])
                if known and known["fill"] == optimal["fill"]
                else None
            )
            rows.append(
                (
                    "M: within 0.5% of the best known solution",
                    f"{_pct(gap_best)} (best: {known['how']})"
                    if gap_best is not None and known is not None
                    else "best known has other fill",
                    verdict(None if gap_best is None else gap_best <= 0.005),
                )
            )
            cost_ratio = optimal["cost"] / greedy["cost"] - 1.0 if greedy.get("cost") else None
            split_ratio = (
                (optimal["split_orders"] / greedy["split_orders"] - 1.0)
                if greedy.get("split_orders")
                else None
            )
            equal_fill = all(optimal["fill"].get(p, 0) >= v for p, v in greedy["fill"].items())
            rows.append(
                (
                    "M: >= 10% lower cost than greedy at equal or better fill",
                    f"cost {_pct(cost_ratio)}",
                    verdict(None if cost_ratio is None else equal_fill and cost_ratio <= -0.10),
                )
            )
            rows.append(
                (
                    "M: >= 25% fewer split orders than greedy",
                    f"{optimal['split_orders']} vs {greedy['split_orders']} ({_pct(split_ratio)})",
                    verdict(None if split_ratio is None else equal_fill and split_ratio <= -0.25),
                )
            )
    for size, target in (("M", 10.0), ("L", 60.0), ("XL", 300.0)):
        case = sizes.get(size, {}).get("cases", {}).get("optimal", {})
        if "wall_s" in case and "error" not in case:
            rows.append(
                (
                    f"{size}: at most {target:g} s end to end",
                    f"{case['wall_s']:.1f} s",
                    verdict(case["wall_s"] <= target),
                )
            )
        elif "error" in case:
            rows.append((f"{size}: at most {target:g} s end to end", case["error"], verdict(False)))
        else:
            rows.append((f"{size}: at most {target:g} s end to end", "–", verdict(None)))
    xl = sizes.get("XL", {}).get("cases", {}).get("optimal", {})
    if "peak_mib" in xl:
        rows.append(
            (
                "XL: at most 8 GiB peak",
                f"{xl['peak_mib'] / 1024:.2f} GiB",
                verdict(xl["peak_mib"] <= 8 * 1024),
            )
        )
    elif "peak_mib_seen" in xl:
        # Killed or crashed: the peak watched from outside up to that moment.
        seen = xl["peak_mib_seen"]
        rows.append(
            (
                "XL: at most 8 GiB peak",
                f"{seen / 1024:.2f} GiB until {xl.get('error', 'it stopped')}",
                verdict(False) if seen > 8 * 1024 else "not measured (did not finish)",
            )
        )
    else:
        rows.append(
            (
                "XL: at most 8 GiB peak",
                xl.get("error", "–"),
                verdict(False if "error" in xl else None),
            )
        )
    latency = results.get("latency", {})
    local = latency.get("in_process_median_ms")
    http = latency.get("http_median_ms")
    rows.append(
        (
            "single order: median <= 10 ms in process",
            _fmt(local, 1, " ms"),
            verdict(None if local is None else local <= 10.0),
        )
    )
    rows.append(
        (
            "single order: median <= 30 ms over HTTP",
            _fmt(http, 1, " ms") if http is not None else latency.get("http_error", "–"),
            verdict(None if http is None else http <= 30.0),
        )
    )
    return rows


def write_table(results: dict[str, Any], best: dict[str, Any]) -> str:
    """The results page: machine, one row per size x strategy, the LP, the targets."""
    machine = results.get("machine", {})
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
        "Runs: "
        + "; ".join(
            f"{size} at {entry.get('run_at', '?')} (commit {entry.get('commit', '?')}, time limit {entry.get('time_limit_s', '?')} s)"
            for size in SIZE_ORDER
            if (entry := results.get("sizes", {}).get(size))
        )
        + ". Each run uses the working tree of that moment.",
        "",
        "What the figures say and what stands in the way of the targets not met: "
        "[ANALYSIS.md](ANALYSIS.md).",
        "",
        "Cost gap = (cost - bound) / cost, against the LP bound at the fill the strategy reached "
        "(so each row's gap is to the best cost possible *at its own fill*) and against the best "
        "known solution of the instance (comparable only at equal fill). Ratios against greedy "
        "come from the same run.",
        "",
        "| size | strategy | status | wall s | peak MiB | units filled/requested by priority | cost | shipments | split orders | LP bound | gap to LP | gap to best known | cost vs greedy | splits vs greedy | time vs greedy |",
        "|---|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    sizes = results.get("sizes", {})
    for size in SIZE_ORDER:
        entry = sizes.get(size)
        if not entry:
            continue
        greedy = entry["cases"].get("greedy", {})
        known = best.get(entry["instance"])
        for strategy in STRATEGY_ORDER:
            case = entry["cases"].get(strategy)
            if case is None:
                continue
            label = f"{size} ({entry['size']['orders']:,}×{entry['size']['locations']:,}×{entry['size']['skus']:,})"
            if "skipped" in case or "error" in case:
                reason = case.get("skipped") or case.get("error")
                wall = _fmt(case.get("wall_s"), 1)
                peak = _fmt(case.get("peak_mib_seen"), 0)
                lines.append(f"| {label} | {strategy} | {reason} | {wall} | {peak} |" + " – |" * 10)
                continue
            if "fill" not in case:
                lines.append(
                    f"| {label} | {strategy} | {case.get('status')} | {_fmt(case['wall_s'])} | {_fmt(case['peak_mib'], 0)} | no allocation (build {_fmt(case.get('build_s'), 1)} s, {case.get('n_variables', 0):,} variables) |"
                    + " – |" * 9
                )
                continue
            # filled/requested per priority, highest first
            fill = " · ".join(
                f"p{p} {case['fill'][p]:,}/{case['requested'].get(p, 0):,}"
                for p in _priorities(case["fill"])
            )
            bound = lp_bound_for(entry, strategy)
            status = case.get("status", "")
            if case.get("n_violations"):
                status += f" ({case['n_violations']} RULE VIOLATIONS)"
            same_fill_best = known if known and known["fill"] == case["fill"] else None
            cost_ratio = (
                case["cost"] / greedy["cost"] - 1.0
                if greedy.get("cost") and strategy != "greedy"
                else None
            )
            split_ratio = (
                case["split_orders"] / greedy["split_orders"] - 1.0
                if greedy.get("split_orders") and strategy != "greedy"
                else None
            )
            # Cost and splits only compare at equal or better fill per priority.
            less_fill = any(case["fill"].get(p, 0) < v for p, v in greedy.get("fill", {}).items())
            cost_cell = "less fill" if less_fill and cost_ratio is not None else _pct(cost_ratio)
            split_cell = "less fill" if less_fill and split_ratio is not None else _pct(split_ratio)
            time_ratio = (
                f"{case['wall_s'] / greedy['wall_s']:.1f}×"
                if greedy.get("wall_s") and strategy != "greedy"
                else "–"
            )
            lines.append(
                f"| {label} | {strategy} | {status} | {_fmt(case['wall_s'])} | {_fmt(case['peak_mib'], 0)} | {fill} | "
                f"{_fmt(case['cost'])} | {case['shipments']:,} | {case['split_orders']:,} | {_fmt(bound)} | {_pct(_gap(case['cost'], bound))} | "
                f"{_pct(_gap(case['cost'], same_fill_best['cost'])) if same_fill_best else '–'} | {cost_cell} | {split_cell} | {time_ratio} |"
            )
    lines += [
        "",
        "## LP relaxation in HiGHS (highspy, every candidate, strong linking rows)",
        "",
        "| size | at the fill of | columns | rows | nonzeros | build s (numpy) | HiGHS solve s | status | bound |",
        "|---|---|--:|--:|--:|--:|--:|---|--:|",
    ]
    for size in SIZE_ORDER:
        entry = sizes.get(size)
        if not entry:
            continue
        lp = entry.get("lp", {})
        if "skipped" in lp or "error" in lp:
            lines.append(
                f"| {size} | – | – | – | – | – | – | {lp.get('skipped') or lp.get('error')} | – |"
            )
            continue
        for strategy, row in lp.items():
            if not isinstance(row, dict):
                continue
            if "same_as" in row:
                lines.append(
                    f"| {size} | {strategy} | same fill as {row['same_as']}: same LP, not solved again | | | | | | {_fmt(row['bound'])} |"
                )
                continue
            lines.append(
                f"| {size} | {strategy} | {row['columns']:,} | {row['rows']:,} | {row['nonzeros']:,} | {_fmt(row['build_s'])} | {_fmt(row['solve_s'])}{' (warm start)' if row.get('warm_start') else ''} | {row['status']} | {_fmt(row['bound'])} |"
            )
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
    lines += ["", "## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for target, measured, verdict in evaluate_targets(results, best):
        lines.append(f"| {target} | {measured} | {verdict} |")
    lines.append("")
    return "\n".join(lines)


def write_plot(results: dict[str, Any], path: Path) -> None:
    """Wall time and cost against batch size (orders), one line per strategy, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results.get("sizes", {})
    fig, (ax_time, ax_cost) = plt.subplots(1, 2, figsize=(11, 4.2))
    for strategy, marker in (
        ("greedy", "o"),
        ("greedy-cheapest", "v"),
        ("optimal", "s"),
        ("naive", "^"),
    ):
        points = [
            (entry["size"]["orders"], entry["cases"][strategy])
            for size in SIZE_ORDER
            if (entry := sizes.get(size)) and strategy in entry["cases"]
        ]
        # Finished cases only: a killed case's time is when it was stopped, not an answer time.
        timed = [(n, c["wall_s"]) for n, c in points if "wall_s" in c and "fill" in c]
        failed = [(n, c["wall_s"]) for n, c in points if "error" in c and "wall_s" in c]
        if failed:
            ax_time.plot(
                *zip(*failed, strict=True), linestyle="", marker="x", color="black", markersize=9
            )
        if timed:
            ax_time.plot(*zip(*timed, strict=True), marker=marker, label=strategy)
        # Per unit filled, not per order: a strategy that fills less must not look cheaper.
        costed = [
            (n, c["cost"] / sum(c["fill"].values()))
            for n, c in points
            if "cost" in c and sum(c["fill"].values()) > 0
        ]
        if costed:
            ax_cost.plot(*zip(*costed, strict=True), marker=marker, label=strategy)
    bounds = [
        (
            entry["size"]["orders"],
            bound / max(1, sum(entry["cases"]["optimal"]["fill"].values())),
        )
        for size in SIZE_ORDER
        if (entry := sizes.get(size))
        and (bound := lp_bound_for(entry, "optimal")) is not None
        and "fill" in entry["cases"].get("optimal", {})
    ]
    if bounds:
        ax_cost.plot(
            *zip(*bounds, strict=True),
            linestyle="--",
            color="grey",
            label="LP bound (optimal's fill)",
        )
    for n, target in ((10_000, 10.0), (50_000, 60.0), (200_000, 300.0)):
        ax_time.plot([n], [target], marker="_", markersize=18, color="red")
    ax_time.set(
        xscale="log",
        yscale="log",
        xlabel="orders in the batch",
        ylabel="wall seconds, JSON in to JSON out",
        title="Time (red: targets; x: killed, out of memory)",
    )
    ax_cost.set(
        xscale="log",
        xlabel="orders in the batch",
        ylabel="total cost per unit filled",
        title="Cost per unit filled",
    )
    for ax in (ax_time, ax_cost):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
