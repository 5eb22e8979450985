"""``omnibroker check REQUEST.json RESPONSE.json``: does a response keep the contract for its request?

Exit status 0 with a one-line summary when it does; 1 listing every violation (on stdout: they are
the command's answer); 2 when either file cannot be read or is refused, with the problem list on
stderr, as ``omnibroker solve`` does for bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from engine.checker import check
from models.problems import InvalidInput, Problem
from models.validation import parse_solve_request

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="verify a solve response against its request",
        description="Verify every rule of the solve contract: stock, line quantities, "
        "eligibility, split, partial and capacity rules, and the shipments, remaining, "
        "unallocated, summary and solver figures recomputed from the allocations.",
    )
    parser.add_argument("request", type=Path, metavar="REQUEST.json")
    parser.add_argument("response", type=Path, metavar="RESPONSE.json")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        request = parse_solve_request(_load(args.request, "request"))
        response = _load(args.response, "response")
        violations = check(request, response)
    except InvalidInput as exc:
        print(f"{_path_of(exc, args)}: {exc.describe()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if violations:
        print(f"INVALID: {len(violations)} violation(s) of the solve contract")
        for violation in violations:
            print(f"  - {violation}")
        return EXIT_VIOLATIONS
    summary = response["summary"]
    print(
        f"OK: {summary['orders']} order(s), {summary['units_allocated']}/"
        f"{summary['units_requested']} unit(s) allocated, {summary['shipments']} shipment(s) "
        f"({summary['split_orders']} split order(s)), total cost {summary['total_cost']:.2f}, "
        f"solver {response['solver']['status']}"
    )
    return EXIT_OK


def _load(path: Path, what: str) -> Any:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            [Problem((), f"cannot read {path}: {exc.strerror}", "io_error")], what
        ) from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([Problem((), f"not valid JSON: {exc}", "json_invalid")], what) from None


def _path_of(error: InvalidInput, args: argparse.Namespace) -> Path:
    return args.response if error.what == "response" else args.request
