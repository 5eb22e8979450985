"""Scenario files: what is accepted, and every refusal names the line and the field at fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.runner import prepare
from scenarios.schema import ScenarioInvalid, load_scenario, parse_scenario

SCENARIOS = Path(__file__).parent.parent / "scenarios"

GOOD = """\
name: Small study
seed: 4
baseline:
  generate: {orders: 20, locations: 6, skus: 30, seed: 3}
  policy: {time_limit_s: 5}
variants:
  - name: Stores capped
    locations:
      - kind: store
        max_shipments: 2
  - name: Peak
    demand: {scale: 1.5}
"""


def refusal(text: str) -> ScenarioInvalid:
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenario(text, file="study.yaml")
    return caught.value


def only_problem(text: str) -> tuple[int | None, str, str]:
    error = refusal(text)
    assert len(error.problems) == 1, error.describe()
    problem = error.problems[0]
    return problem.line, ".".join(map(str, problem.loc)), problem.msg


def test_a_good_scenario_parses() -> None:
    source = parse_scenario(GOOD)
    scenario = source.scenario
    assert scenario.seed == 4
    assert [v.name for v in scenario.variants] == ["Stores capped", "Peak"]
    assert scenario.variants[0].locations[0].field_overrides() == {"max_shipments": 2}
    assert scenario.variants[1].demand is not None and scenario.variants[1].demand.scale == 1.5


def test_every_shipped_scenario_is_valid() -> None:
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert {f.stem for f in files} >= {
        "peak_day",
        "store_closure",
        "safety_stock_sweep",
        "greedy_vs_optimal",
    }
    for file in files:
        source = load_scenario(file)
        assert source.scenario.variants, file


def test_a_misspelt_field_is_refused_with_its_line() -> None:
    text = GOOD.replace("max_shipments: 2", "max_shipment: 2")
    line, where, msg = only_problem(text)
    assert line == 10
    assert where == "variants.0.locations.0.max_shipment"
    assert "unknown field" in msg


def test_a_wrong_type_is_refused_with_its_line() -> None:
    line, where, msg = only_problem(GOOD.replace("max_shipments: 2", 'max_shipments: "2"'))
    assert (line, where) == (10, "variants.0.locations.0.max_shipments")
    assert "integer" in msg


def test_a_negative_scale_is_refused_with_its_line() -> None:
    line, where, _ = only_problem(GOOD.replace("scale: 1.5", "scale: -1"))
    assert (line, where) == (12, "variants.1.demand.scale")


def test_a_missing_field_names_the_line_of_its_parent() -> None:
    line, where, msg = only_problem(GOOD.replace("  - name: Peak\n", "  - description: Peak\n"))
    assert where == "variants.1.name"
    assert line == 11
    assert msg == "field required"


def test_an_inventory_change_needs_exactly_one_operation() -> None:
    text = GOOD + "    inventory:\n      - kind: store\n        factor: 2\n        set: 3\n"
    line, where, msg = only_problem(text)
    assert (line, where) == (14, "variants.1.inventory.0")
    assert "exactly one of factor, set or add" in msg


def test_a_location_override_must_change_something() -> None:
    line, where, msg = only_problem(GOOD.replace("        max_shipments: 2\n", ""))
    assert (line, where) == (9, "variants.0.locations.0")
    assert "at least one of" in msg


def test_every_problem_is_listed_in_line_order() -> None:
    text = GOOD.replace("max_shipments: 2", "max_shipments: -2").replace(
        "scale: 1.5", "scale: lots"
    )
    error = refusal(text)
    assert [p.line for p in error.problems] == [10, 12]
    described = error.describe()
    assert "study.yaml:10: variants.0.locations.0.max_shipments (variant 'Stores capped')" in (
        described
    )
    assert "study.yaml:12: variants.1.demand.scale (variant 'Peak')" in described


def test_duplicate_variant_names_are_refused() -> None:
    line, where, msg = only_problem(GOOD.replace("name: Peak", "name: Stores capped"))
    assert "used twice" in msg
    assert where == ""  # a rule over the whole file; reported at its top
    assert line == 1


def test_a_duplicate_yaml_key_is_refused_not_silently_overwritten() -> None:
    text = GOOD.replace(
        "        max_shipments: 2\n", "        max_shipments: 2\n        max_shipments: 3\n"
    )
    line, where, msg = only_problem(text)
    assert (line, where) == (11, "variants.0.locations.0.max_shipments")
    assert "first on line 10" in msg


def test_broken_yaml_names_its_line() -> None:
    line, _, msg = only_problem(GOOD.replace("demand: {scale: 1.5}", "demand: {scale: 1.5"))
    assert line is not None and line >= 12
    assert msg.startswith("not valid YAML")


def test_a_baseline_needs_exactly_one_source() -> None:
    text = GOOD.replace("  policy: {time_limit_s: 5}\n", "  requests: [a.json]\n")
    line, where, msg = only_problem(text)
    assert (line, where) == (3, "baseline")
    assert "exactly one of generate or requests" in msg


def test_an_unknown_location_id_is_refused_with_its_line_when_applied() -> None:
    text = GOOD.replace("      - kind: store\n", "      - ids: [S-0001, S-9999]\n")
    source = parse_scenario(text, file="study.yaml")
    with pytest.raises(ScenarioInvalid) as caught:
        prepare(source)
    [problem] = caught.value.problems
    assert problem.loc == ("variants", 0, "locations", 0, "ids", 1)
    assert problem.line == 9
    assert problem.variant == "Stores capped"
    assert "S-9999" in problem.msg


def test_a_selection_matching_nothing_is_refused() -> None:
    text = GOOD.replace("      - kind: store\n", "      - pattern: 'DC-*'\n")
    with pytest.raises(ScenarioInvalid) as caught:
        prepare(parse_scenario(text))
    [problem] = caught.value.problems
    assert problem.line == 9
    assert "matches no location" in problem.msg


def test_an_unreadable_request_file_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  generate: {orders: 20, locations: 6, skus: 30, seed: 3}\n",
        "  requests: [missing.json]\n",
    )
    file = tmp_path / "study.yaml"
    file.write_text(text)
    with pytest.raises(ScenarioInvalid) as caught:
        prepare(load_scenario(file))
    [problem] = caught.value.problems
    assert problem.loc == ("baseline", "requests", 0)
    assert problem.line == 4
    assert "cannot read" in problem.msg


def test_yaml_anchors_repeat_a_block() -> None:
    text = GOOD.replace("    locations:\n", "    locations: &caps\n") + "    locations: *caps\n"
    variants = parse_scenario(text).scenario.variants
    assert variants[1].locations == variants[0].locations


def write_request_files(tmp_path: Path, quantity: int = 1) -> None:
    """The contract's example split as a network file and a batch file."""
    example = json.loads(
        (Path(__file__).parent / "data" / "contract_example_request.json").read_text()
    )
    network = {"locations": example["locations"], "inventory": example["inventory"]}
    batch = {"orders": example["orders"], "policy": example["policy"]}
    batch["orders"][1]["lines"][0]["quantity"] = quantity
    (tmp_path / "network.json").write_text(json.dumps(network))
    (tmp_path / "batch.json").write_text(json.dumps(batch))


FROM_FILES = """\
name: From files
baseline:
  requests: [network.json, batch.json]
variants:
  - name: No store shipping
    locations: [{kind: store, ships: false}]
"""


def test_request_files_are_merged_into_the_baseline(tmp_path: Path) -> None:
    write_request_files(tmp_path)
    (tmp_path / "study.yaml").write_text(FROM_FILES)
    baseline, variant = prepare(load_scenario(tmp_path / "study.yaml"))
    assert [o["id"] for o in baseline.request["orders"]] == ["SO-1001", "SO-1002"]
    assert len(baseline.request["locations"]) == 2 and len(baseline.request["inventory"]) == 2
    assert baseline.request["policy"]["cost_per_km"] == 0.002
    assert variant.request["locations"][1]["ships"] is False


def test_a_refused_baseline_request_is_reported_once_at_the_baseline(tmp_path: Path) -> None:
    write_request_files(tmp_path, quantity=0)
    (tmp_path / "study.yaml").write_text(FROM_FILES)
    with pytest.raises(ScenarioInvalid) as caught:
        prepare(load_scenario(tmp_path / "study.yaml"))
    [problem] = caught.value.problems
    assert problem.loc == ("baseline",) and problem.line == 2
    assert "orders.1.lines.0.quantity" in problem.msg
