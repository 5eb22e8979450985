"""``omnibroker check REQUEST.json RESPONSE.json``: exit 0, 1 or 2, never a traceback."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from cli import main as cli_main
from cli.check import EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATIONS, register

DATA = Path(__file__).parent / "data"
REQUEST = DATA / "contract_example_request.json"
RESPONSE = DATA / "contract_example_response.json"


def run_check(*argv: str | Path) -> int:
    # The subcommand on its own parser: these tests do not depend on the other subcommands.
    parser = argparse.ArgumentParser(prog="omnibroker")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["check", *map(str, argv)])
    status: int = args.handler(args)
    return status


def write(tmp_path: Path, name: str, body: Any) -> Path:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def test_check_is_a_registered_subcommand() -> None:
    assert "cli.check" in cli_main.COMMAND_MODULES


def test_valid_response_exits_0_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(REQUEST, RESPONSE) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("OK: 2 order(s), 3/3 unit(s) allocated, 3 shipment(s)")
    assert "total cost 20.24" in out


def test_broken_response_exits_1_listing_violations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response = json.loads(RESPONSE.read_text())
    response["shipments"][0]["cost"] = 1.0
    response["summary"]["split_orders"] = 0
    assert run_check(REQUEST, write(tmp_path, "response.json", response)) == EXIT_VIOLATIONS
    out = capsys.readouterr().out
    assert "INVALID: 2 violation(s)" in out
    assert "[shipment_cost_mismatch] shipments.0" in out
    assert "[summary_mismatch] summary.split_orders" in out


def test_refused_request_exits_2_with_problems_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = json.loads(REQUEST.read_text())
    request["orders"][1]["id"] = "SO-1001"
    request["inventory"][0]["quantity"] = 1.5
    assert run_check(write(tmp_path, "request.json", request), RESPONSE) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "request refused: 2 problem(s)" in captured.err
    assert "duplicate order id 'SO-1001'" in captured.err
    assert "Traceback" not in captured.err


def test_malformed_response_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    response = json.loads(RESPONSE.read_text())
    response["allocations"][0]["quantity"] = "1"
    del response["solver"]
    assert run_check(REQUEST, write(tmp_path, "response.json", response)) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "response refused: 2 problem(s)" in err
    assert "allocations.0.quantity" in err
    assert "solver: field required" in err


@pytest.mark.parametrize("body", ["{not json", "", "[1, 2"])
def test_response_that_is_not_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    assert run_check(REQUEST, write(tmp_path, "response.json", body)) == EXIT_BAD_INPUT
    assert "not valid JSON" in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(tmp_path / "nowhere.json", RESPONSE) == EXIT_BAD_INPUT
    assert "cannot read" in capsys.readouterr().err
