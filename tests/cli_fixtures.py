"""What the command-line tests share: running ``omnibroker`` in process, and a ledger database
with the example catalog loaded through the CLI itself.

Test modules import what they use (``from tests.cli_fixtures import db, run``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "inventory-example"


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``omnibroker *args`` in this process: exit status, stdout and stderr."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def db(tmp_path, capsys) -> str:
    """A fresh SQLite ledger with the example catalog."""
    path = str(tmp_path / "cli.db")
    assert run(capsys, "catalog", "load", str(EXAMPLE / "catalog.json"), "--db", path)[0] == 0
    return path
