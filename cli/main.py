"""``omnibroker``: the command line. Each subcommand lives in its own module of this package.

A module registers itself with ``register(subparsers)``, adding a parser whose ``handler`` default
is a function ``(args) -> int`` (the exit status). Exit status 2 means bad input: the problem list
goes to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand modules, in the order `omnibroker --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "cli.demo",
    "cli.solve",
    "cli.serve",
    "cli.check",
    "cli.generate",
    "cli.bench",
    "cli.inventory",
    "cli.brokering",
    "cli.scenario",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnibroker",
        description="Order brokering and inventory availability for omnichannel retail.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
