"""`live2diff-cam bench` on the tiny model: JSON per mode, and the cache's saving is visible."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_bench_reports_every_mode_as_json(tmp_path):
    output = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "live2diff_cam", "bench", "--model", "tiny",
        "--height", "16", "--width", "16", "--frames", "4", "--steps", "2",
        "--depth", "none", "--output", str(output),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert [r["mode"] for r in lines] == ["pipelined", "sequential", "naive"]
    assert json.loads(output.read_text()) == lines
    by_mode = {r["mode"]: r for r in lines}
    for result in lines:
        assert result["frames"] == 4
        assert result["fps"] > 0
        assert result["latency_ms_p95"] >= result["latency_ms_p50"] > 0
        assert result["peak_rss_gb"] > 0
    # One UNet call per frame when pipelined, T when sequential; the naive baseline redoes the
    # whole 16-frame window at every step.
    assert by_mode["pipelined"]["unet_calls_per_frame"] == 1
    assert by_mode["sequential"]["unet_calls_per_frame"] == 2
    assert by_mode["pipelined"]["pipeline_delay_frames"] == 1
    ratio = by_mode["naive"]["unet_tflop_per_frame"] / by_mode["pipelined"]["unet_tflop_per_frame"]
    assert ratio == pytest.approx(16, rel=0.02)  # the JSON rounds TFLOP to 6 decimals
