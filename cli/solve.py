"""``omnibroker solve REQUEST.json [-o OUT.json]``: the solve contract on the command line."""

from __future__ import annotations

import argparse
import time
from typing import Any

from cli.io import read_bytes, report_invalid, write_json
from engine.backends import BACKENDS, DEFAULT_BACKEND


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "solve",
        help="allocate a batch of orders (request JSON in, response JSON out)",
        description="Allocate a batch of orders to locations as the solve contract says. "
        "Exit status 2, with every problem on stderr, for a request that is refused.",
    )
    parser.add_argument("request", help="request JSON file, or - for stdin")
    parser.add_argument("-o", "--output", help="write the response here instead of stdout")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help=f"OR-Tools solver behind the optimiser (default {DEFAULT_BACKEND})",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="the same answer every time: work limits instead of the clock (the time limit "
        "is then only a guard)",
    )
    parser.add_argument(
        "--allocations-csv", metavar="FILE", help="also write the allocations as CSV here"
    )
    parser.add_argument(
        "--allocations-parquet", metavar="FILE", help="also write the allocations as Parquet here"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: `omnibroker --help` and the other commands need not load OR-Tools.
    from engine.params import SolveParams
    from engine.problem import problem_from_json
    from engine.solve import solve_problem
    from models.problems import InvalidInput

    # The time limit counts from here: reading and parsing the request are part of it.
    started = time.perf_counter()
    try:
        # engine.solve.solve, the validated request let go of once its arrays are built
        data = problem_from_json(read_bytes(args.request, "request"))
    except InvalidInput as error:
        return report_invalid(error)
    params = SolveParams(backend=args.backend, deterministic=args.deterministic)
    response = solve_problem(data, params, started=started)
    write_json(response, args.output)
    write_allocation_tables(response, csv=args.allocations_csv, parquet=args.allocations_parquet)
    return 0


ALLOCATION_COLUMNS = ["order_id", "line_id", "location_id", "quantity"]


def write_allocation_tables(
    response: dict[str, Any], *, csv: str | None, parquet: str | None
) -> None:
    """The response's allocations as a table, one row each, in CSV and/or Parquet."""
    if csv is None and parquet is None:
        return
    import pandas as pd  # only when asked: a plain solve need not load pandas

    table = pd.DataFrame(response["allocations"], columns=ALLOCATION_COLUMNS).astype(
        {"quantity": "int64"}
    )
    if csv is not None:
        table.to_csv(csv, index=False)
    if parquet is not None:
        table.to_parquet(parquet, index=False)
