"""Hostile input on the command line: exit status 2, every problem on stderr, never a
traceback, and nothing applied."""

from __future__ import annotations

import json

import pytest

from tests.cli_fixtures import db, run

__all__ = ["db"]  # the fixture, imported for pytest
FEED_HEADER = ["--source", "erp", "--basis", "physical", "--as-of", "2026-11-27T05:00:00Z"]


def snapshot(capsys, db: str) -> str:
    status, out, _ = run(capsys, "snapshot", "--db", db)
    assert status == 0
    return out


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("WH-EAST,MUG-LOGO,1\nWH-EAST,MUG-LOGO,2\n", "line 3: the same location and sku as line 2"),
        ("WH-EAST,MUG-LOGO,9223372036854775808\n", "line 2: quantity '9223372036854775808'"),
        ('WH-EAST,"MUG-LOGO,1\n', "not a well-formed CSV feed"),
    ],
    ids=["duplicate-row", "past-int64", "unbalanced-quote"],
)
def test_bad_feed_exits_2_and_applies_nothing(tmp_path, capsys, db, body, expected):
    before = snapshot(capsys, db)
    feed = tmp_path / "feed.csv"
    feed.write_text("location_id,sku,quantity\n" + body)
    status, _, err = run(capsys, "feed", "load", str(feed), *FEED_HEADER, "--db", db)
    assert status == 2
    assert expected in err
    assert "Traceback" not in err
    assert snapshot(capsys, db) == before


def test_event_past_the_limit_exits_2_and_applies_nothing(tmp_path, capsys, db):
    before = snapshot(capsys, db)
    batch = tmp_path / "events.jsonl"
    event = {"id": "V-1", "kind": "variance", "reason": "found", "location_id": "WH-EAST",
             "sku": "MUG-LOGO", "quantity": 2**63, "occurred_at": "2026-11-27T09:00:00Z"}  # fmt: skip
    batch.write_text(json.dumps(event) + "\n")
    status, _, err = run(capsys, "events", "apply", str(batch), "--db", db)
    assert status == 2
    assert "line 1: quantity" in err
    assert snapshot(capsys, db) == before


def test_unsupported_database_url_is_one_line(capsys, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("OMNIBROKER_DATABASE_URL", "mysql://u:secret@db/omni")
    get_settings.cache_clear()
    try:
        status, _, err = run(capsys, "snapshot")
    finally:
        get_settings.cache_clear()
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "unsupported database 'mysql'" in err and "secret" not in err


SCENARIO = """\
name: Two faults
seed: 8
baseline:
  generate: {orders: 20, locations: 5, skus: 20, seed: 5}
variants:
  - name: Unknown store
    locations:
      - {ids: [S-0404], ships: false}
  - name: Dear stores
    policy: {shipment_cost: {store: 5000000.0}}
"""


def test_scenario_check_names_every_variant_at_its_own_place(tmp_path, capsys):
    """A variant refused by its change-set does not shift the place of those after it."""
    file = tmp_path / "two.yaml"
    file.write_text(SCENARIO)
    status, _, err = run(capsys, "scenario", "check", str(file))
    assert status == 2
    assert "unknown location id 'S-0404'" in err
    assert "variants.1" in err and "Dear stores" in err
    assert f"{file}:8:" in err and f"{file}:9: variants.1 (variant 'Dear stores')" in err


def test_scenario_check_reports_schema_and_change_set_problems_at_once(tmp_path, capsys):
    """A variant the schema refuses does not hide what the change-sets of the others break."""
    file = tmp_path / "three.yaml"
    file.write_text(
        SCENARIO.replace("{ids: [S-0404], ships: false}", "{kind: store, ships: nope}")
        + "  - name: Gone store\n    locations:\n      - {ids: [S-0404], ships: false}\n"
    )
    status, _, err = run(capsys, "scenario", "check", str(file))
    assert status == 2
    assert f"{file}:8: variants.0.locations.0.ships (variant 'Unknown store')" in err
    assert f"{file}:9: variants.1 (variant 'Dear stores')" in err
    assert f"{file}:13: variants.2.locations.0.ids.0 (variant 'Gone store')" in err
    assert "refused: 3 problem(s)" in err
