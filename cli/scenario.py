"""``omnibroker scenario run FILE`` and ``omnibroker scenario check FILE``: what-if studies.

``run`` solves the baseline and every variant of a scenario file and writes the KPI table (terminal,
CSV, Parquet), the plots and a one-page report; ``check`` builds every variant's request without
solving, so a scenario can be validated in a second. A refused scenario exits with status 2 and
its problems, each with the line and field at fault, on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.optimizer import BACKENDS, DEFAULT_BACKEND
from scenarios.executors import RayUnavailable
from scenarios.runner import MAX_WORKERS, prepare, print_summary, run
from scenarios.schema import ScenarioInvalid, load_scenario, slug

EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "scenario",
        help="what-if studies: run a scenario file's variants against its baseline",
        description="What-if scenarios: a baseline network and batch, and variants as change-sets "
        "against it (see docs/scenarios.md). Exit status 2, with every problem (line and field) on "
        "stderr, for a scenario file that is refused.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    run_parser = actions.add_parser(
        "run",
        help="solve the baseline and every variant; write KPIs, plots and a report",
        description="Solve the baseline and every variant of FILE and write kpis.csv, "
        "kpis.parquet, PNG plots and report.md into the output directory.",
    )
    run_parser.add_argument("file", help="scenario YAML file")
    run_parser.add_argument(
        "--out", help="output directory (default out/scenarios/<file name without .yaml>)"
    )
    run_parser.add_argument(
        "--workers",
        type=int,
        default=MAX_WORKERS,
        help=f"solver processes, 1 to {MAX_WORKERS} (default {MAX_WORKERS}; 1 solves in-process)",
    )
    run_parser.add_argument(
        "--seed",
        type=int,
        help="replace the scenario's seed (demand sampling) and a generated baseline's seed",
    )
    run_parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help=f"OR-Tools solver behind the optimiser (default {DEFAULT_BACKEND})",
    )
    run_parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="solve the variants on Ray: 'auto' (the cluster this machine belongs to), an "
        "address (ray://head:10001), or 'local' (a private instance here); needs the optional "
        "extra: pip install 'omnibroker[ray]'. Without it, the local process pool (--workers)",
    )
    run_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    run_parser.set_defaults(handler=run_command)

    check_parser = actions.add_parser(
        "check",
        help="validate a scenario file and build its variants, without solving",
        description="Parse FILE, build the baseline and apply every variant's change-set; "
        "report every problem with its line and field.",
    )
    check_parser.add_argument("file", help="scenario YAML file")
    check_parser.add_argument("--seed", type=int, help="as for run")
    check_parser.set_defaults(handler=check_command)


def _refused(error: ScenarioInvalid) -> int:
    print(error.describe(), file=sys.stderr)
    return EXIT_BAD_INPUT


def _with_the_rest_checked(error: ScenarioInvalid, seed: int | None) -> ScenarioInvalid:
    """Every problem at once: the variants the schema refused, and what the change-sets and the
    contract refuse in the others."""
    if error.rest is None:
        return error
    try:
        prepare(error.rest, seed=seed)
    except ScenarioInvalid as more:
        problems = sorted(
            [*error.problems, *more.problems], key=lambda p: (p.line or 0, str(p.loc))
        )
        return ScenarioInvalid(problems, error.file)
    return error


def run_command(args: argparse.Namespace) -> int:
    if not 1 <= args.workers <= MAX_WORKERS:
        print(f"omnibroker scenario run: --workers must be 1 to {MAX_WORKERS}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = Path(args.out) if args.out else Path("out") / "scenarios" / slug(Path(args.file).stem)
    try:
        result = run(
            args.file,
            seed=args.seed,
            workers=args.workers,
            backend=args.backend,
            out_dir=out,
            progress=not args.no_progress,
            ray=args.ray,
        )
    except ScenarioInvalid as error:
        return _refused(error)
    except RayUnavailable as error:
        print(f"omnibroker scenario run: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:  # the output directory: not writable, disk full, ...
        print(f"omnibroker scenario run: cannot write {out}: {error}", file=sys.stderr)
        return 1
    print_summary(result)
    return 0


def check_command(args: argparse.Namespace) -> int:
    try:
        source = load_scenario(args.file)
        variants = prepare(source, seed=args.seed)
    except ScenarioInvalid as error:
        return _refused(_with_the_rest_checked(error, args.seed))
    for variant in variants:
        request = variant.request
        changes = "; ".join(variant.changes) or "no change"
        print(
            f"{variant.name}: {len(request['orders']):,} orders, "
            f"{len(request['locations']):,} locations, {len(request['inventory']):,} inventory "
            f"rows ({changes})"
        )
    print(f"{args.file}: ok, {len(variants) - 1} variant(s)")
    return 0
