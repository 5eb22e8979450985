"""Where variants are solved: the local process pool (safe from a plain script without a
``__main__`` guard) and Ray (a local instance, as a cluster would), with the same results."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scenarios.runner import run
from scenarios.schema import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
# Small enough that Ray's start-up dominates; every variant proves its optimum (gap 0), so the
# answers are the same wherever they are solved.
SWEEP = """\
name: Sweep
seed: 3
baseline:
  generate: {orders: 25, locations: 6, skus: 40, seed: 2}
  policy: {time_limit_s: 30, relative_gap: 0.0}
variants:
  - name: Stores keep 1 unit
    safety_stock:
      - {kind: store, units: 1}
  - name: Store shipping $15
    policy: {shipment_cost: {store: 15.0}}
"""
TIMING = ["solve_seconds"]


def test_a_plain_script_without_a_main_guard_runs_a_pool_of_two(tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from scenarios import notebook_api as nb

            print("script body ran")
            source = nb.load_scenario_text({SWEEP!r})
            result = nb.run_scenario(source, workers=2, progress=False)
            print("variants", len(result.kpis))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "BrokenProcessPool" not in done.stderr
    # The workers did not run the script again: its body ran once.
    assert done.stdout.count("script body ran") == 1
    assert "variants 3" in done.stdout


def test_ray_gives_the_results_of_the_local_pool() -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'omnibroker[ray]'")
    local = run(parse_scenario(SWEEP), workers=2, progress=False)
    on_ray = run(parse_scenario(SWEEP), ray="local", progress=False)
    assert list(on_ray.kpis.index) == list(local.kpis.index)
    assert (on_ray.kpis["solver_status"] == "optimal").all()
    assert on_ray.kpis.drop(columns=TIMING).equals(local.kpis.drop(columns=TIMING))
    for there, here in zip(on_ray.results, local.results, strict=True):
        assert there.response["summary"] == here.response["summary"]
