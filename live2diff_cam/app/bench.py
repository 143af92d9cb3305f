"""`live2diff-cam bench`: FPS, per-frame latency, peak memory, FLOPs and MFU of the engine, as JSON.

Modes, all on the same model and frames, each built by the app's own `build_engine` (the same
depth path, autoencoder and compile setting the app streams with):
* `pipelined`   — the engine as shipped (KV-cache + stream batch);
* `sequential`  — pipelining off: every frame runs all T steps before the next enters;
* `naive`       — no KV-cache: every frame re-runs the UNet over its whole window.

Timing is end to end, from a uint8 frame in host memory to a uint8 frame in host memory. Latency
of frame i is the time from the call that took it to the call that returned it, so it includes
the pipeline delay. Compilation and the warmup frames are excluded from the statistics.
FLOPs are counted (torch's FLOP counter) on one real step of each mode, by part;
`--flops-only` counts them on a "meta" twin of the engine, so nothing is computed and a
full-size model is counted in seconds on any machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import sys
import time
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from live2diff_cam.engine import StreamEngine
    from live2diff_cam.engine.baseline import WindowRecomputeBaseline

MODES = ("pipelined", "sequential", "naive")

# Dense bf16/fp16 tensor-core peak, TFLOP/s, for MFU. Unknown devices: pass --peak-tflops.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "RTX 4090": 165.2, "L40S": 362.0}
FP16_BYTES = 2  # memory figures are given for the GPU's float16 weights and cache


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
    compile_flags = parser.add_mutually_exclusive_group()
    compile_flags.add_argument(
        "--compile", dest="compile", action="store_true", default=None,
        help="compile the stream step (default: on CUDA, as the app does)",
    )  # fmt: skip
    compile_flags.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument(
        "--vae", default="taesd", help="taesd (default, as the app) | full (the model's own) | id"
    )
    parser.add_argument(
        "--depth",
        default="auto",
        help="none | a depth model source (ONNX file, hub id, alias, random:ARCH); auto = the "
        "real-size random Depth-Anything-V2-Small (the tiny one for --model tiny), on ONNX",
    )
    parser.add_argument(
        "--depth-runtime",
        choices=("onnx", "torch"),
        default="onnx",
        help="onnx (default, as the app) or torch (where onnxruntime-gpu is missing)",
    )
    parser.add_argument(
        "--flops-only", action="store_true", help="count FLOPs and memory by part; time nothing"
    )
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU")
    parser.add_argument("--output", help="also write the JSON to this file")


def main(args: argparse.Namespace) -> int:
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("float16" if device == "cuda" else "float32")
    results = []
    for steps in args.steps:
        common = dict(
            model=args.model,
            height=args.height,
            width=args.width,
            steps=steps,
            vae=None if args.vae == "full" else args.vae,
            depth=_depth_source(args.depth, args.model),
        )
        if args.flops_only:
            runs = [count_flops(**common)]
        else:
            runs = [
                run_benchmark(
                    **common,
                    depth_runtime=args.depth_runtime,
                    frames=args.frames,
                    mode=mode,
                    device=device,
                    dtype=dtype,
                    compile=args.compile,
                    peak_tflops=args.peak_tflops,
                )
                for mode in args.modes
            ]
        for result in runs:
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results[0] if args.flops_only and len(results) == 1 else results, handle)
    return 0


def _depth_source(kind: str, model: str) -> str | None:
    if kind == "none":
        return None
    if kind == "auto":
        return "random:tiny-depth-anything" if model == "tiny" else "random:depth-anything-v2-small"
    return kind


def _engine(
    model: str, height: int, width: int, steps: int, vae: str | None, depth: str | None, **engine
) -> StreamEngine:
    """The engine `build_engine` makes for these settings (the app's own builder)."""
    from live2diff_cam.app.engine_build import EngineRequest, build_engine

    request = EngineRequest(
        model=model, height=height, width=width, steps=steps, vae=vae, depth_model=depth, **engine
    )
    return cast("StreamEngine", build_engine(request, _no_hook))


def _no_hook(_depth: object, _milliseconds: float) -> None:
    """Depth maps are not inspected while benchmarking."""


def count_flops(
    *, model: str, height: int, width: int, steps: int, vae: str | None, depth: str | None
) -> dict:
    """FLOPs per frame by part, and the memory the GPU would hold, for one configuration."""
    from live2diff_cam.engine.flops import stream_frame_flops

    engine = _engine(model, height, width, steps, vae, depth, device="meta", dtype="float32")
    counts = stream_frame_flops(engine, _synthetic_frames(1, height, width)[0])
    weights = sum(
        p.numel()
        for module in (engine.unet, engine.codec.vae, engine.model.text_encoder)
        for p in module.parameters()
    )
    return {
        "model": model,
        "resolution": f"{width}x{height}",
        "steps": steps,
        "vae": vae or "full",
        "depth": depth or "none",
        "tflop_per_frame": _tflop(counts),
        "weights_gb": round(weights * FP16_BYTES / 2**30, 3),
        "kv_cache_gb": round(engine.denoiser.cache.nbytes / 4 * FP16_BYTES / 2**30, 3),
        "memory_dtype": "float16",
    }


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
    compile: bool | None = None,
    vae: str | None = "taesd",
    depth: str | None = None,
    depth_runtime: str = "onnx",
    peak_tflops: float | None = None,
) -> dict:
    """Run one configuration and return its measurements as a JSON-able dict."""
    import torch

    from live2diff_cam.engine.baseline import WindowRecomputeBaseline
    from live2diff_cam.engine.flops import count_frame_flops, engine_parts, stream_frame_flops

    engine = _engine(
        model, height, width, steps, vae, depth,
        device=device, dtype=dtype, pipeline=mode != "sequential", depth_runtime=depth_runtime,
        compile=(compile if mode == "pipelined" else False),
    )  # fmt: skip
    warmup = engine.config.warmup
    runner = WindowRecomputeBaseline(engine) if mode == "naive" else engine
    total = warmup + frames + runner.delay_frames + 1
    inputs = _synthetic_frames(total, height, width)
    flops = stream_frame_flops(engine, inputs[0])
    engine.warm_up()  # compile (and capture) before anything is timed
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    # 1. Warmup frames are not timed.
    for frame in inputs[:warmup]:
        _drain(runner, runner.step(frame))
    # 2. Timed frames: step time per call, latency per frame (take -> return).
    taken: list[float] = []
    returned: list[float] = []
    step_times: list[float] = []
    start = time.perf_counter()
    for frame in inputs[warmup:-1]:
        begin = time.perf_counter()
        taken.append(begin)
        produced = _drain(runner, runner.step(frame))
        end = time.perf_counter()
        step_times.append(end - begin)
        returned += [end] * produced
    elapsed = time.perf_counter() - start
    latencies = [r - t for t, r in zip(taken, returned, strict=False)]
    fps = len(returned) / elapsed
    if mode == "naive":  # counted on one real step with the window full, like the timed ones
        flops = count_frame_flops(lambda: runner.step(inputs[-1]), engine_parts(engine))
        flops["unet"] -= flops["motion_modules"]

    result = {
        "model": model,
        "mode": mode,
        "resolution": f"{width}x{height}",
        "steps": steps,
        "device": torch.cuda.get_device_name() if device == "cuda" else _cpu_name(),
        "dtype": dtype,
        "compile": engine.config.compile,
        "vae": vae or "full",
        "depth": depth or "none",
        "depth_runtime": depth_runtime if depth else None,
        "frames": len(returned),
        "fps": round(fps, 3),
        "step_ms_p50": round(1000 * _percentile(step_times, 50), 3),
        "step_ms_p95": round(1000 * _percentile(step_times, 95), 3),
        "latency_ms_p50": round(1000 * _percentile(latencies, 50), 3),
        "latency_ms_p95": round(1000 * _percentile(latencies, 95), 3),
        "pipeline_delay_frames": runner.delay_frames,
        "unet_calls_per_frame": {"pipelined": 1, "sequential": steps, "naive": steps}[mode],
        "tflop_per_frame": _tflop(flops),
        "torch": torch.__version__,
    }
    if device == "cuda":
        result["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        peak = peak_tflops or _peak_tflops(torch.cuda.get_device_name())
        if peak:
            unet = flops["unet"] + flops["motion_modules"]
            result["mfu_frame"] = round(flops["total"] * fps / (peak * 1e12), 4)
            result["mfu_unet"] = round(unet * fps / (peak * 1e12), 4)
    else:
        # ru_maxrss is the process's peak resident set, KiB on Linux.
        result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return result


def _tflop(counts: dict[str, int]) -> dict[str, float]:
    """FLOP counts as TFLOP with 6 significant digits (tiny models count in MFLOP)."""
    return {part: float(f"{count / 1e12:.6g}") for part, count in counts.items()}


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


def _drain(runner: StreamEngine | WindowRecomputeBaseline, first: np.ndarray | None) -> int:
    count = 0
    out = first
    while out is not None:
        count += 1
        out = runner.pop_finished()
    return count


def _peak_tflops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def _cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine() or sys.platform
