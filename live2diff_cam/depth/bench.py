"""How long one depth map costs at the engine's resolution: mean and p95 over many frames.

Owns the timing loop (`benchmark_depth`) and a small command line that builds an estimator from a
model file or id, or exports a random-weight model of a real architecture when no weights are
at hand (`--random depth-anything-v2-small`: the released configuration, same cost). Prints
one JSON object. Knows nothing about the engine; `live2diff-cam bench` measures the whole loop.

    python -m live2diff_cam.depth.bench --random depth-anything-v2-small --frames 100
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from live2diff_cam.depth.base import DepthEstimator
from live2diff_cam.errors import DepthError, Live2DiffError


@dataclass(frozen=True)
class DepthBenchResult:
    """Per-frame wall time of `estimator(frames)` in milliseconds (batch time / batch size).

    `cpu_ms` is this process's CPU time per frame (all threads): on a machine shared with other
    work it stays honest where wall time inflates, and wall ~ cpu_ms / cores used when idle.
    """

    model: str
    provider: str
    height: int
    width: int
    batch: int
    frames: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    cpu_ms: float


def benchmark_depth(
    estimator: DepthEstimator,
    height: int = 512,
    width: int = 512,
    frames: int = 100,
    batch: int = 1,
    device: str | torch.device = "cpu",
    warmup: int = 3,
    model: str = "",
) -> DepthBenchResult:
    """Time `frames` frames (in batches of `batch`) of `height x width` through `estimator`."""
    if frames < 1 or batch < 1 or warmup < 0:
        raise DepthError("benchmark_depth needs frames >= 1, batch >= 1 and warmup >= 0")
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand((batch, 3, height, width), generator=generator).to(device)
    for _ in range(warmup):
        estimator(inputs)
    times = []
    cpu_start = time.process_time()
    for _ in range(-(-frames // batch)):
        start = time.perf_counter()
        depth = estimator(inputs)
        if depth.is_cuda:
            torch.cuda.synchronize(depth.device)  # timing only: the engine never waits here
        times.append((time.perf_counter() - start) * 1000.0 / batch)
    cpu_ms = (time.process_time() - cpu_start) * 1000.0 / (len(times) * batch)
    ms = np.asarray(times)
    return DepthBenchResult(
        model=model or type(estimator).__name__,
        provider=str(getattr(estimator, "provider", "?")),
        height=height,
        width=width,
        batch=batch,
        frames=len(times) * batch,
        mean_ms=round(float(ms.mean()), 3),
        p50_ms=round(float(np.percentile(ms, 50)), 3),
        p95_ms=round(float(np.percentile(ms, 95)), 3),
        cpu_ms=round(cpu_ms, 3),
    )


def _build_parser() -> argparse.ArgumentParser:
    from live2diff_cam.depth.random_models import RANDOM_ARCHITECTURES

    parser = argparse.ArgumentParser(prog="python -m live2diff_cam.depth.bench")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="depth source: .onnx file, folder, hub id or alias")
    what.add_argument(
        "--random",
        choices=RANDOM_ARCHITECTURES,
        help="export this architecture with random weights to ONNX first (no download)",
    )
    parser.add_argument("--prefer", choices=("onnx", "torch"), default="onnx")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--height", type=int, default=512, help="engine frame height (512)")
    parser.add_argument("--width", type=int, default=512, help="engine frame width (512)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from live2diff_cam.depth.factory import create_depth_estimator

    try:
        with tempfile.TemporaryDirectory() as folder:
            if args.random:
                from live2diff_cam.depth.export import export_depth_onnx
                from live2diff_cam.depth.random_models import build_random_depth_model

                module, spec = build_random_depth_model(args.random)
                source: str | Path = export_depth_onnx(
                    module, spec, Path(folder) / f"{args.random}.onnx"
                )
                name = f"{args.random} (random weights, {spec.input_height}x{spec.input_width})"
            else:
                source, name = args.model, args.model
            estimator = create_depth_estimator(source, args.device, args.prefer)
            result = benchmark_depth(
                estimator, args.height, args.width, args.frames, args.batch, args.device, model=name
            )
    except Live2DiffError as error:
        print(f"depth bench: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({**asdict(result), "torch_threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
