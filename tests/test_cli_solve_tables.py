"""`omnibroker solve --allocations-csv / --allocations-parquet`: the allocations as a table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.test_cli_solve import DATA, omnibroker


def test_allocations_are_written_as_csv_and_parquet_beside_the_json(tmp_path: Path) -> None:
    csv, parquet, out = tmp_path / "a.csv", tmp_path / "a.parquet", tmp_path / "out.json"
    result = omnibroker(
        "solve", str(DATA / "contract_example_request.json"), "-o", str(out),
        "--allocations-csv", str(csv), "--allocations-parquet", str(parquet),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = json.loads(out.read_text())["allocations"]
    for table in (pd.read_csv(csv, dtype={"line_id": str}), pd.read_parquet(parquet)):
        assert list(table.columns) == ["order_id", "line_id", "location_id", "quantity"]
        assert table.to_dict("records") == expected


def test_an_empty_allocation_still_writes_the_header(tmp_path: Path) -> None:
    request = json.loads((DATA / "contract_example_request.json").read_text())
    request["inventory"] = [{**row, "quantity": 0} for row in request["inventory"]]
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    csv = tmp_path / "a.csv"
    result = omnibroker(
        "solve", str(path), "-o", str(tmp_path / "o.json"), "--allocations-csv", str(csv)
    )
    assert result.returncode == 0, result.stderr
    assert csv.read_text().strip() == "order_id,line_id,location_id,quantity"
