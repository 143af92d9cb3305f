"""`live2diff-cam bench`: FPS, per-frame latency, peak memory and MFU of the engine, as JSON.

Modes, all on the same model and frames:
* `pipelined`   — the engine as shipped (KV-cache + stream batch);
* `sequential`  — pipelining off: every frame runs all T steps before the next enters;
* `naive`       — no KV-cache: every frame re-runs the UNet over its whole window.

Timing is end to end, from a uint8 frame in host memory to a uint8 frame in host memory (the
engine's download synchronises the device). Latency of frame i is the time from the call that
took it to the call that returned it, so it includes the pipeline delay. The warmup frames are
excluded from the statistics.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import sys
import time
from collections.abc import Callable

import numpy as np

MODES = ("pipelined", "sequential", "naive")

# Dense bf16/fp16 tensor-core peak, TFLOP/s, for MFU. Unknown devices: pass --peak-tflops.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "RTX 4090": 165.2, "L40S": 362.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny", help="tiny | sd15-random | hub id | path")
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument(
        "--steps", type=int, nargs="+", default=[2], help="denoising steps (several: a sweep)"
    )
    parser.add_argument("--frames", type=int, default=40, help="frames timed after warmup")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    parser.add_argument("--dtype", default=None, help="float16 | bfloat16 | float32")
    parser.add_argument("--compile", action="store_true", help="torch.compile the stream step")
    parser.add_argument("--vae", help="taesd (fast decoder, from the hub) or a VAE id/folder")
    parser.add_argument(
        "--depth",
        default="auto",
        help="depth model timed with the engine: none | a random architecture "
        "(depth-anything-v2-small, tiny-depth-anything) | a depth model source; "
        "auto = the real-size random Depth-Anything-V2-Small, or the tiny one for --model tiny",
    )
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU")
    parser.add_argument("--output", help="also write the JSON to this file")


def main(args: argparse.Namespace) -> int:
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("float16" if device == "cuda" else "float32")
    results = []
    for steps in args.steps:
        for mode in args.modes:
            result = run_benchmark(
                model=args.model,
                height=args.height,
                width=args.width,
                steps=steps,
                frames=args.frames,
                mode=mode,
                device=device,
                dtype=dtype,
                compile=args.compile,
                vae=args.vae,
                depth=args.depth,
                peak_tflops=args.peak_tflops,
            )
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _synthetic_frames(count: int, height: int, width: int) -> list[np.ndarray]:
    """A moving gradient with a square: cheap, deterministic, never two frames alike."""
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        frame = np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256, (x + y + i) % 256], -1)
        top = (5 * i) % max(height // 2, 1)
        frame[top : top + height // 4, width // 4 : width // 2] = 255
        frames.append(frame.astype(np.uint8))
    return frames


def _unet_flops(engine) -> float:
    """FLOPs of one stream-batch UNet call (counted, not estimated)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    denoiser = engine.denoiser
    slots_index = denoiser.next_index.clone()
    compiled, denoiser.stream_unet = denoiser.stream_unet, denoiser.unet  # count eager ops
    counter = FlopCounterMode(display=False)
    try:
        with torch.inference_mode(), counter:
            denoiser.advance(torch.zeros_like(denoiser.latents[:1]), None)
    finally:
        denoiser.stream_unet = compiled
        denoiser.next_index.copy_(slots_index)
    return float(counter.get_total_flops())


def run_benchmark(
    *,
    model: str,
    height: int,
    width: int,
    steps: int,
    frames: int,
    mode: str,
    device: str,
    dtype: str,
    compile: bool = False,
    vae: str | None = None,
    depth: str = "auto",
    peak_tflops: float | None = None,
) -> dict:
    """Run one configuration and return its measurements as a JSON-able dict."""
    import torch

    from live2diff_cam.engine import EngineConfig, StreamEngine, load_model
    from live2diff_cam.engine.baseline import WindowRecomputeBaseline

    config = EngineConfig(
        height=height,
        width=width,
        steps=steps,
        device=device,
        dtype=dtype,
        pipeline=mode != "sequential",
        compile=compile and mode == "pipelined",
    )
    depth_estimator = _depth_estimator(depth, model, device)
    engine = StreamEngine(config, load_model(model, vae=vae), depth_estimator=depth_estimator)
    flops_per_call = _unet_flops(engine)
    engine.reset()
    runner: StreamEngine | WindowRecomputeBaseline = (
        WindowRecomputeBaseline(engine) if mode == "naive" else engine
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    total = config.warmup + frames + runner.delay_frames
    inputs = _synthetic_frames(total, height, width)

    # 1. Warmup frames (and compilation) are not timed.
    for frame in inputs[: config.warmup]:
        _drain(runner, runner.step(frame))
    # 2. Timed frames: step time per call, latency per frame (take -> return).
    taken: list[float] = []
    returned: list[float] = []
    step_times: list[float] = []
    start = time.perf_counter()
    for frame in inputs[config.warmup :]:
        begin = time.perf_counter()
        taken.append(begin)
        produced = _drain(runner, runner.step(frame))
        end = time.perf_counter()
        step_times.append(end - begin)
        returned += [end] * produced
    elapsed = time.perf_counter() - start
    latencies = [r - t for t, r in zip(taken, returned, strict=False)]
    fps = len(returned) / elapsed

    unet_calls_per_frame = {"pipelined": 1, "sequential": steps, "naive": steps}[mode]
    frame_steps = {"pipelined": steps, "sequential": steps, "naive": steps * config.window}[mode]
    flops_per_frame = flops_per_call / steps * frame_steps
    result = {
        "model": model,
        "mode": mode,
        "resolution": f"{width}x{height}",
        "steps": steps,
        "device": torch.cuda.get_device_name() if device == "cuda" else _cpu_name(),
        "dtype": dtype,
        "compile": config.compile,
        "vae": vae or "model's own",
        "depth": depth,
        "frames": len(returned),
        "fps": round(fps, 3),
        "step_ms_p50": round(1000 * _percentile(step_times, 50), 3),
        "step_ms_p95": round(1000 * _percentile(step_times, 95), 3),
        "latency_ms_p50": round(1000 * _percentile(latencies, 50), 3),
        "latency_ms_p95": round(1000 * _percentile(latencies, 95), 3),
        "pipeline_delay_frames": runner.delay_frames,
        "unet_calls_per_frame": unet_calls_per_frame,
        "unet_tflop_per_frame": round(flops_per_frame / 1e12, 6),
        "torch": torch.__version__,
    }
    if device == "cuda":
        result["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        peak = peak_tflops or _peak_tflops(torch.cuda.get_device_name())
        if peak:
            result["mfu"] = round(flops_per_frame * fps / (peak * 1e12), 4)
    else:
        # ru_maxrss is the process's peak resident set, KiB on Linux.
        result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return result


def _drain(runner, first) -> int:
    count = 0
    out = first
    while out is not None:
        count += 1
        out = runner.engine.pop_finished() if hasattr(runner, "engine") else runner.pop_finished()
    return count


def _depth_estimator(kind: str, model: str, device: str) -> Callable | None:
    import torch

    from live2diff_cam.depth import TorchDepthEstimator, create_depth_estimator
    from live2diff_cam.depth.random_models import RANDOM_ARCHITECTURES, build_random_depth_model

    if kind == "none":
        return None
    if kind == "auto":
        kind = "tiny-depth-anything" if model == "tiny" else "depth-anything-v2-small"
    if kind in RANDOM_ARCHITECTURES:
        module, spec = build_random_depth_model(kind)
        dtype = torch.float16 if device == "cuda" else torch.float32
        return TorchDepthEstimator(module, spec, device, dtype)
    return create_depth_estimator(kind, device=device)


def _peak_tflops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def _cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine() or sys.platform
