"""`create_depth_estimator`: the one call the app makes to get depth maps for the engine.

Owns the choice between runtimes and sources: an .onnx file runs on onnxruntime; a
transformers folder or hub id runs in torch (`prefer="torch"`) or is exported to ONNX once and
cached (`prefer="onnx"`); the aliases `depth-anything-v2-small` (default) and
`dpt-hybrid-midas` (the paper's MiDaS) name their real hub repositories. Knows nothing about
the engine or the app's settings.

    estimator = create_depth_estimator("depth-anything-v2-small", device="cuda")
    depth = estimator(frames)   # (N, 3, H, W) [0, 1] -> (N, 1, H, W) raw depth, near = larger
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch

from live2diff_cam.depth.base import DepthEstimator, DepthModelSpec, known_model
from live2diff_cam.depth.export import export_cached, export_depth_onnx
from live2diff_cam.depth.onnx_estimator import OnnxDepthEstimator
from live2diff_cam.depth.random_models import build_random_depth_model
from live2diff_cam.depth.sources import (
    depth_cache_dir,
    known_onnx_file,
    looks_like_hub_id,
    missing_file_message,
)
from live2diff_cam.depth.torch_estimator import TorchDepthEstimator, load_transformers_depth_model
from live2diff_cam.errors import DepthError

log = logging.getLogger(__name__)

Runtime = Literal["onnx", "torch"]


def create_depth_estimator(
    source: str | Path,
    device: str | torch.device = "cpu",
    prefer: Runtime = "onnx",
    *,
    spec: DepthModelSpec | None = None,
    tensorrt: bool = False,
    dtype: torch.dtype | None = None,
) -> DepthEstimator:
    """A ready (loaded, warmed-up) depth estimator for `source` on `device`.

    `source`: an .onnx file; a transformers depth-model folder; a hub id
    (`onnx-community/depth-anything-v2-small`, `depth-anything/Depth-Anything-V2-Small-hf`,
    `Intel/dpt-hybrid-midas`, ...); an alias (`depth-anything-v2-small`, `dpt-hybrid-midas`);
    or `random:ARCH` (ARCH in `RANDOM_ARCHITECTURES`): that architecture with random weights,
    exported once and run like a real model (benchmarks and tests, no download).
    `prefer`: the runtime for sources that have both forms (an .onnx file is always ONNX).
    `dtype`: torch runtime compute dtype (default float16 on CUDA, float32 on the CPU).
    Raises DepthError saying what to download or fix when the model cannot be had.
    """
    if prefer not in ("onnx", "torch"):
        raise DepthError(f"prefer must be 'onnx' or 'torch', got {prefer!r}")
    device = torch.device(device)
    text = str(source)
    path = Path(text).expanduser()

    # 0. A random-weight architecture (offline benchmarks): the same runtimes as a real model.
    if text.startswith(RANDOM_PREFIX):
        return _random(text.removeprefix(RANDOM_PREFIX), device, prefer, tensorrt, dtype)

    # 1. A file on disk: ONNX, whatever `prefer` says.
    if path.is_file():
        if prefer == "torch":
            log.info("%s is a file: running it with onnxruntime", path.name)
        return OnnxDepthEstimator(path, device, spec, tensorrt=tensorrt)

    # 2. An alias or a hub id of a known model: its ONNX file or its torch weights.
    known = known_model(text) if not path.exists() else None
    if known is not None:
        spec = spec or known.spec
        if prefer == "onnx" and known.onnx_repo is not None:
            return OnnxDepthEstimator(known_onnx_file(known), device, spec, tensorrt=tensorrt)
        if prefer == "onnx":
            return OnnxDepthEstimator(export_cached(known.torch_repo), device, tensorrt=tensorrt)
        return _torch(known.torch_repo, device, spec, dtype)

    # 3. A transformers folder or another hub id.
    if path.is_dir() or looks_like_hub_id(text):
        location: str | Path = path if path.is_dir() else text
        if prefer == "torch":
            return _torch(location, device, spec, dtype)
        return OnnxDepthEstimator(export_cached(location), device, spec, tensorrt=tensorrt)
    raise DepthError(missing_file_message("depth model", text))


RANDOM_PREFIX = "random:"


def _random(
    architecture: str,
    device: torch.device,
    prefer: Runtime,
    tensorrt: bool,
    dtype: torch.dtype | None,
) -> DepthEstimator:
    model, spec = build_random_depth_model(architecture)
    if prefer == "torch":
        if dtype is None:
            dtype = torch.float16 if device.type == "cuda" else torch.float32
        return TorchDepthEstimator(model, spec, device, dtype)
    path = depth_cache_dir() / "random" / f"{architecture}.onnx"
    if not path.is_file():
        export_depth_onnx(model, spec, path)
    return OnnxDepthEstimator(path, device, spec, tensorrt=tensorrt)


def _torch(
    source: str | Path,
    device: torch.device,
    spec: DepthModelSpec | None,
    dtype: torch.dtype | None,
) -> TorchDepthEstimator:
    model, model_spec = load_transformers_depth_model(source)
    if dtype is None:
        dtype = torch.float16 if device.type == "cuda" else torch.float32
    return TorchDepthEstimator(model, spec or model_spec, device, dtype)
