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

from cli.io import EXIT_BAD_INPUT, report_invalid
from core.settings import DatabaseUnavailable, SettingsInvalid
from models.problems import InvalidInput

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


# Which module registers each command, so that running one command imports only its module
# (the ledger's SQLAlchemy, the scenarios' matplotlib and the API's FastAPI stay unloaded for
# `omnibroker solve`). tests/test_cli_main.py holds this table to what the modules register.
COMMAND_OWNERS: dict[str, str] = {
    "demo": "cli.demo",
    "solve": "cli.solve",
    "serve": "cli.serve",
    "check": "cli.check",
    "generate": "cli.generate",
    "bench": "cli.bench",
    "db": "cli.inventory",
    "catalog": "cli.inventory",
    "feed": "cli.inventory",
    "events": "cli.inventory",
    "snapshot": "cli.inventory",
    "position": "cli.inventory",
    "orders": "cli.brokering",
    "broker": "cli.brokering",
    "availability": "cli.brokering",
    "morning-run": "cli.brokering",
    "scenario": "cli.scenario",
}


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnibroker",
        description="Order brokering and inventory availability for omnichannel retail.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    owner = COMMAND_OWNERS.get(argv[0]) if argv else None
    parser = build_parser((owner,) if owner else COMMAND_MODULES)
    args = parser.parse_args(argv)
    # The one place where refusals become exit status 2 and a message, never a traceback:
    # bad input (every problem listed), bad settings, a database that cannot be used.
    try:
        status: int = args.handler(args)
    except InvalidInput as error:
        return report_invalid(error)
    except (SettingsInvalid, DatabaseUnavailable) as error:
        print(f"omnibroker: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
