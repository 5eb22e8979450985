"""The command table: every command a module registers is routed to that module, and back."""

from __future__ import annotations

import argparse
import importlib

from cli.main import COMMAND_MODULES, build_parser, command_owners


def _registered(module: str) -> set[str]:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    importlib.import_module(module).register(subparsers)
    return set(subparsers.choices)


def test_every_registered_command_is_routed_to_its_module() -> None:
    routed = {}
    for module in COMMAND_MODULES:
        for command in _registered(module):
            routed[command] = module
    assert routed == command_owners()


def test_help_lists_every_command() -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(choices) == set(command_owners())
