"""tools/gpu-check.sh, the prepared GPU run, exercised end to end on the CPU (smoke mode: the
tiny model at a small size through every step the script takes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_gpu_check_runs_every_configuration_and_writes_the_table(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, GPU_CHECK_SMOKE="1", PYTHON=sys.executable, GPU_CHECK_BUDGET_S="1500")
    completed = subprocess.run(
        ["bash", str(ROOT / "tools" / "gpu-check.sh"), str(out)],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "bench.jsonl").read_text().splitlines()]
    configs = {row["config"] for row in rows}
    assert len(configs) == 10
    assert not [row for row in rows if "failed" in row or "skipped" in row]
    steps = {row["steps"] for row in rows}
    assert steps == {1, 2, 3, 4}
    assert {row["compile"] for row in rows} == {False}  # smoke mode: no C++ compiles
    assert {row["vae"] for row in rows} == {"taesd", "full"}
    assert {row["depth"] for row in rows} == {"none", "random:tiny-depth-anything"}
    assert json.loads((out / "machine.json").read_text())["torch"]
    table = (out / "table.md").read_text().splitlines()
    assert len(table) == 2 + len(rows)
