"""``omnibroker bench``: rebuild the benchmark table (``benchmarks/results.md``) from scratch."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def build_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.run import BENCH_DIR, BEST_KNOWN, LP_SIZES, NAIVE_SIZES, STRATEGIES

    def names(text: str) -> list[str]:
        return [name.strip() for name in text.split(",") if name.strip()]

    def seeds(text: str) -> list[int]:
        try:
            values = [int(seed) for seed in names(text)]
        except ValueError:
            values = []
        if not values or any(seed < 0 for seed in values):
            raise argparse.ArgumentTypeError(
                f"seeds are comma-separated integers >= 0 (such as 1,2,3), got {text!r}"
            )
        return values

    parser.add_argument(
        "--sizes",
        type=lambda t: [s.upper() for s in names(t)],
        default=["S", "M", "L", "XL"],
        help="comma-separated sizes (default S,M,L,XL)",
    )
    parser.add_argument(
        "--strategies",
        type=names,
        default=list(STRATEGIES),
        help=f"comma-separated, from {','.join(STRATEGIES)} (default all)",
    )
    parser.add_argument(
        "--seeds",
        type=seeds,
        default=None,
        help="comma-separated seeds for every size run (default: the protocol's, "
        "S and M 1,2,3, L and XL 1)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="solver time limit in s for every size (default: the protocol's per size)",
    )
    parser.add_argument(
        "--lp-sizes",
        type=lambda t: [s.upper() for s in names(t)],
        default=list(LP_SIZES),
        help=f"sizes to solve the LP relaxation at (default {','.join(LP_SIZES)})",
    )
    parser.add_argument(
        "--naive-sizes",
        type=lambda t: [s.upper() for s in names(t)],
        default=list(NAIVE_SIZES),
        help=f"sizes to attempt the naive MIP at (default {','.join(NAIVE_SIZES)})",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="do not run: fold the results of runs made with --out-dir DIR into --out-dir",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not run: rewrite results.md and results.png from results.json",
    )
    parser.add_argument(
        "--no-latency", action="store_true", help="skip the single-order latency measurement"
    )
    parser.add_argument(
        "--instances-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "omnibroker-bench",
        help="where generated instances are cached",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=BENCH_DIR,
        help="where results.md/json/png go",
    )
    parser.add_argument(
        "--best-known",
        type=Path,
        default=BEST_KNOWN,
        help="the best known solutions to report against (read only; written by "
        "python -m benchmarks.exact)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run the benchmark suite and rewrite benchmarks/results.md",
        description="Generate the protocol's instances, run greedy, the optimiser, the naive MIP and "
        "the LP relaxation on each (one subprocess per case), measure single-order latency, and "
        "write benchmarks/results.{md,json,png}, with the targets against "
        "benchmarks/best_known.json (read only: python -m benchmarks.exact writes it).",
    )
    build_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from benchmarks.run import SEEDS, STRATEGIES, merge_runs, run_suite

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.merge or args.report_only:
        merge_runs(args.out_dir, args.merge or [], args.best_known, log=log)
        return 0

    unknown = [s for s in args.sizes if s not in SEEDS] + [
        s for s in args.strategies if s not in STRATEGIES
    ]
    if unknown:
        print(f"omnibroker bench: unknown size or strategy: {', '.join(unknown)}", file=sys.stderr)
        return 2
    run_suite(
        sizes=args.sizes,
        strategies=args.strategies,
        time_limit_s=args.time_limit,
        instances_dir=args.instances_dir,
        out_dir=args.out_dir,
        lp_sizes=args.lp_sizes,
        naive_sizes=args.naive_sizes,
        latency=not args.no_latency,
        seeds=args.seeds,
        best_known=args.best_known,
        log=log,
    )
    return 0
