"""``omnibroker``: the command line. Each subcommand lives in its own module of this package.

A module registers itself with ``register(subparsers)``, adding a parser whose ``handler`` default
is a function ``(args) -> int`` (the exit status). Exit status 2 means bad input: the problem list
goes to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

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
    "cli.runs",
)


def command_owners(modules: Sequence[str] = COMMAND_MODULES) -> dict[str, str]:
    """Which module registers each command, so that running one command imports only its module
    (the ledger's SQLAlchemy, the scenarios' matplotlib and the API's FastAPI stay unloaded for
    `omnibroker solve`).

    Read from each module's source, not imported (importing them is what this avoids): the names
    its ``register(subparsers)`` passes to ``subparsers.add_parser``. tests/test_cli_main.py holds
    this reading to what the modules do register.
    """
    owners: dict[str, str] = {}
    for module in modules:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        tree = ast.parse(Path(spec.origin).read_text(), spec.origin)
        register = next(
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "register"
        )
        subparsers = register.args.args[0].arg
        for node in ast.walk(register):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_parser"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == subparsers
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                owners[str(node.args[0].value)] = module
    return owners


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
    owner = command_owners().get(argv[0]) if argv else None
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
