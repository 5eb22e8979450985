"""Running scenarios: KPIs per variant, reproducible, and `omnibroker scenario run` end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from scenarios.runner import run
from scenarios.schema import BASELINE_NAME, parse_scenario

ROOT = Path(__file__).parent.parent

# Tiny, so that every variant is solved to a proven optimum well inside its time limit: only then
# are KPIs machine-independent, which the reproducibility test relies on.
TINY = """\
name: Tiny study
description: A small network, for tests.
seed: 8
baseline:
  generate: {orders: 40, locations: 8, skus: 60, seed: 5}
  policy: {time_limit_s: 30, relative_gap: 0.0}
variants:
  - name: Peak x1.5
    demand: {scale: 1.5}
  - name: No ship-from-store
    locations:
      - {kind: store, ships: false}
  - name: Greedy rules
    policy: {strategy: greedy}
"""


def omnibroker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def tiny_run():  # type: ignore[no-untyped-def]
    return run(parse_scenario(TINY), workers=1, progress=False)


def test_one_kpi_row_per_variant_baseline_first(tiny_run) -> None:  # type: ignore[no-untyped-def]
    table = tiny_run.kpis
    assert list(table.index) == [BASELINE_NAME, "Peak x1.5", "No ship-from-store", "Greedy rules"]
    assert table.loc["Peak x1.5", "orders"] == 60
    assert table.loc["No ship-from-store", "units_store_ship"] == 0
    assert table.loc["Greedy rules", "strategy"] == "greedy"
    # The optimiser fills at least what the rules fill (fill comes first in the contract).
    assert (
        table.loc[BASELINE_NAME, "units_allocated"] >= table.loc["Greedy rules", "units_allocated"]
    )
    optimised = table[table["strategy"] == "optimal"]
    assert (optimised["solver_status"] == "optimal").all()


def test_same_file_and_seed_give_the_same_kpis(tiny_run) -> None:  # type: ignore[no-untyped-def]
    again = run(parse_scenario(TINY), workers=2, progress=False)
    timing = ["solve_seconds"]
    pd.testing.assert_frame_equal(
        tiny_run.kpis.drop(columns=timing), again.kpis.drop(columns=timing)
    )


def test_another_seed_draws_another_network(tiny_run) -> None:  # type: ignore[no-untyped-def]
    other = run(parse_scenario(TINY), seed=99, workers=1, progress=False)
    assert not other.kpis["total_cost"].equals(tiny_run.kpis["total_cost"])


def test_write_outputs_and_report(tiny_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from scenarios.runner import write_outputs

    outputs = write_outputs(tiny_run, tmp_path)
    for role in ("csv", "parquet", "kpi_plot", "mix_plot", "distance_plot", "report"):
        assert outputs[role].is_file() and outputs[role].stat().st_size > 0, role
    assert pd.read_parquet(outputs["parquet"]).index.tolist() == tiny_run.kpis.index.tolist()
    report = outputs["report"].read_text()
    for path in outputs.values():
        if path.suffix in (".png", ".csv", ".parquet"):
            assert f"({path.name})" in report, path.name
    assert "| fill_rate |" in report
    # Headline changes against the baseline, and why units went unfilled, per variant.
    assert "| variant | verdict | fill | units unfilled | total cost |" in report
    assert "| No ship-from-store | " in report
    assert "## Why units went unfilled" in report


def test_scenario_run_command_writes_every_output(tmp_path: Path) -> None:
    file = tmp_path / "tiny.yaml"
    file.write_text(TINY)
    out = tmp_path / "out"
    result = omnibroker("scenario", "run", str(file), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "fill_rate" in result.stdout and "Greedy rules" in result.stdout
    csv = pd.read_csv(out / "kpis.csv", index_col="variant")
    parquet = pd.read_parquet(out / "kpis.parquet")
    assert (
        csv.index.tolist()
        == parquet.index.tolist()
        == [
            BASELINE_NAME,
            "Peak x1.5",
            "No ship-from-store",
            "Greedy rules",
        ]
    )
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "distance_histogram.png",
        "kpi_comparison.png",
        "map_baseline.png",
        "map_greedy-rules.png",
        "map_no-ship-from-store.png",
        "map_peak-x1-5.png",
        "unit_mix.png",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").read_text().startswith("# Tiny study")


def test_a_bad_scenario_exits_2_with_line_and_field(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(TINY.replace("{kind: store, ships: false}", "{kind: store, ships: nope}"))
    for action in ("run", "check"):
        result = omnibroker("scenario", action, str(file))
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert f"{file}:12: variants.1.locations.0.ships (variant 'No ship-from-store')" in (
            result.stderr
        )


def test_a_change_that_does_not_fit_the_baseline_exits_2(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(TINY.replace("{kind: store, ships: false}", "{ids: [S-0404], ships: false}"))
    result = omnibroker("scenario", "check", str(file))
    assert result.returncode == 2
    assert "unknown location id 'S-0404'" in result.stderr
    assert ":12:" in result.stderr


def test_scenario_check_lists_the_variants(tmp_path: Path) -> None:
    file = tmp_path / "tiny.yaml"
    file.write_text(TINY)
    result = omnibroker("scenario", "check", str(file))
    assert result.returncode == 0, result.stderr
    assert "Peak x1.5: 60 orders" in result.stdout
    assert "ok, 3 variant(s)" in result.stdout
