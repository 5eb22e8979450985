"""`omnibroker solve` and `omnibroker demo`, run as a user runs them: real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"


def omnibroker(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parent.parent,
    )


def test_solve_prints_the_contract_example_response() -> None:
    result = omnibroker("solve", str(DATA / "contract_example_request.json"))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    expected = json.loads((DATA / "contract_example_response.json").read_text())
    for key in ("allocations", "unallocated", "remaining", "shipments"):
        assert response[key] == expected[key]
    assert response["summary"]["total_cost"] == 20.24


def test_solve_writes_to_a_file_with_dash_o(tmp_path: Path) -> None:
    out = tmp_path / "response.json"
    result = omnibroker("solve", str(DATA / "contract_example_request.json"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(out.read_text())["summary"]["units_allocated"] == 3


def test_solve_reads_stdin() -> None:
    result = omnibroker("solve", "-", stdin=(DATA / "contract_example_request.json").read_text())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["orders"] == 2


def test_bad_request_exits_2_with_every_problem_on_stderr_and_no_traceback() -> None:
    raw = json.loads((DATA / "contract_example_request.json").read_text())
    raw["orders"][1]["id"] = "SO-1001"
    raw["inventory"][0]["quantity"] = -1
    result = omnibroker("solve", "-", stdin=json.dumps(raw))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "orders.1.id: duplicate order id 'SO-1001'" in result.stderr
    assert "inventory.0.quantity" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_json_exits_2() -> None:
    result = omnibroker("solve", "-", stdin="{not json")
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2_naming_it() -> None:
    result = omnibroker("solve", "/nonexistent/request.json")
    assert result.returncode == 2
    assert "/nonexistent/request.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_brokers_the_bundled_sample_and_reads_well() -> None:
    result = omnibroker("demo")
    assert result.returncode == 0, result.stderr
    for phrase in ("optimiser", "greedy rules", "Units filled by priority", "A few allocations"):
        assert phrase in result.stdout
