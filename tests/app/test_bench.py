"""`live2diff-cam bench`: JSON per mode on the tiny model, and FLOPs by part at full size."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PARTS = {"unet", "motion_modules", "vae_encode", "vae_decode", "depth", "total"}


def _bench(*arguments: str) -> list[dict]:
    command = [sys.executable, "-m", "live2diff_cam", "bench", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


def test_bench_reports_every_mode_as_json(tmp_path):
    output = tmp_path / "bench.json"
    lines = _bench(
        "--model", "tiny", "--height", "32", "--width", "32", "--frames", "4", "--steps", "2",
        "--depth", "none", "--output", str(output),
    )  # fmt: skip
    assert [r["mode"] for r in lines] == ["pipelined", "sequential", "naive"]
    assert json.loads(output.read_text()) == lines
    by_mode = {r["mode"]: r for r in lines}
    for result in lines:
        assert result["frames"] == 4
        assert result["fps"] > 0
        assert result["latency_ms_p95"] >= result["latency_ms_p50"] > 0
        assert result["peak_rss_gb"] > 0
        assert result["vae"] == "taesd" and result["compile"] is False  # the app's CPU defaults
        assert set(result["tflop_per_frame"]) == PARTS
    # One UNet call per frame when pipelined, T when sequential; the naive baseline redoes its
    # whole window at every step: all three counted on a real step, not scaled. Its counted
    # step follows the 4 timed frames: 8 warmup + 5 recent frames in the window.
    assert by_mode["pipelined"]["unet_calls_per_frame"] == 1
    assert by_mode["sequential"]["unet_calls_per_frame"] == 2
    assert by_mode["pipelined"]["pipeline_delay_frames"] == 1
    flops = {mode: r["tflop_per_frame"] for mode, r in by_mode.items()}
    assert flops["sequential"] == flops["pipelined"]
    assert flops["naive"]["unet"] / flops["pipelined"]["unet"] == pytest.approx(13, rel=1e-3)
    # Temporal layers: 13x the projections; the stream's cached attention adds position terms.
    ratio = flops["naive"]["motion_modules"] / flops["pipelined"]["motion_modules"]
    assert 10 < ratio <= 13


def test_flops_only_counts_the_full_size_frame_by_part(tmp_path):
    output = tmp_path / "flops.json"
    (result,) = _bench(
        "--model", "sd15-random", "--height", "512", "--width", "512", "--steps", "2",
        "--flops-only", "--output", str(output),
    )  # fmt: skip
    assert json.loads(output.read_text()) == result
    flops = result["tflop_per_frame"]
    assert set(flops) == PARTS
    assert result["vae"] == "taesd" and result["depth"] == "random:depth-anything-v2-small"
    # Counted, not estimated: the parts add up, and each lands where the architecture puts it.
    assert sum(flops[p] for p in PARTS - {"total"}) == pytest.approx(flops["total"], abs=5e-4)
    assert flops["unet"] == pytest.approx(2 * 0.81, rel=0.02)  # SD1.5 UNet, batch of 2 rows
    assert flops["motion_modules"] == pytest.approx(2 * 0.30, rel=0.03)  # the hand count
    assert flops["vae_encode"] == pytest.approx(2 * 0.122, rel=0.03)  # TAESD: frame + depth map
    assert flops["vae_decode"] == pytest.approx(0.141, rel=0.03)
    assert 0.05 < flops["depth"] < 0.15
    assert 2.3 < result["weights_gb"] < 2.9  # UNet + motion modules + TAESD + CLIP, fp16
    assert 0 < result["kv_cache_gb"] < 4
