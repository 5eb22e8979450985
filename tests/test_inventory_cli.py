"""The inventory commands: the README's morning-run walk-through as written, and bad input as
exit status 2 with the problems on stderr, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.cli_fixtures import db, run

__all__ = ["db"]  # the fixture, imported for pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "inventory.md"
EXAMPLE = ROOT / "docs" / "inventory-example"


def walkthrough() -> str:
    text = GUIDE.read_text()
    block = re.search(
        r"<!-- walkthrough -->\s*```bash\n(.*?)```\s*<!-- /walkthrough -->", text, re.S
    )
    assert block, "docs/inventory.md lost its walk-through block"
    return block.group(1)


@pytest.mark.slow
def test_readme_morning_run_walkthrough_works_as_written(tmp_path):
    # The commands run from a clone's root: give them one (the docs and the environment).
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the environment running the tests
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIBROKER_")}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    availability = (tmp_path / "availability.csv").read_text().splitlines()
    assert availability == [
        "scope,location_id,sku,quantity",
        "online,,TSHIRT-BLUE-XL,4",
        "online,,MUG-LOGO,8",
        "pickup,S-017,MUG-LOGO,5",
        "pickup,S-042,TSHIRT-BLUE-XL,1",
        "pickup,S-042,MUG-LOGO,3",
    ]
    assert "snapshot of version" in done.stderr


def test_feed_with_bad_rows_exits_2_listing_each_line(tmp_path, capsys, db):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "location_id,sku,quantity\nWH-EAST,MUG-LOGO,1\nNOWHERE,MUG-LOGO,1\nS-017,MUG-LOGO,-4\n"
    )
    status, _, err = run(capsys, "feed", "load", str(bad), "--source", "erp", "--basis", "physical",
                         "--as-of", "2026-11-27T05:00:00Z", "--db", db)  # fmt: skip
    assert status == 2
    assert "line 3: unknown location 'NOWHERE'" in err
    assert "line 4: quantity '-4' is not an integer in [0, 1,000,000,000]" in err
    assert "Traceback" not in err


def test_csv_feed_without_its_basis_exits_2(tmp_path, capsys, db):
    status, _, err = run(capsys, "feed", "load", str(EXAMPLE / "erp-feed.csv"), "--db", db)
    assert status == 2
    assert "source" in err and "basis" in err


def test_event_batch_with_bad_json_line_exits_2(tmp_path, capsys, db):
    batch = tmp_path / "events.jsonl"
    batch.write_text('{"id": "a", "kind": "sale"\n')
    status, _, err = run(capsys, "events", "apply", str(batch), "--db", db)
    assert status == 2
    assert "line 1" in err


def test_missing_file_exits_2(capsys, db):
    status, _, err = run(capsys, "orders", "submit", "no-such-orders.json", "--db", db)
    assert status == 2
    assert "no-such-orders.json" in err


def test_morning_run_stops_at_a_refused_feed(tmp_path, capsys, db):
    run(capsys, "orders", "submit", str(EXAMPLE / "orders.json"), "--db", db)
    bad = tmp_path / "erp.csv"
    bad.write_text("location_id,sku,quantity\nWH-EAST,MUG-LOGO,x\n")
    status, out, err = run(
        capsys,
        "morning-run",
        "--feed",
        str(bad),
        "erp",
        "physical",
        "2026-11-27T05:00:00Z",
        "--db",
        db,
    )
    assert status == 2
    assert "feed erp.csv refused" in err
    status, out, _ = run(capsys, "orders", "show", "SO-1001", "--db", db)
    assert orjson.loads(out)["status"] == "queued"  # nothing was brokered against stale stock
