"""Depth maps for the engine's structure conditioning (ENGINE_SPEC §1): onnxruntime-gpu or torch.

    from live2diff_cam.depth import create_depth_estimator
    estimator = create_depth_estimator("depth-anything-v2-small", device="cuda")
    depth = estimator(frames)   # (N, 3, H, W) float [0, 1] RGB -> (N, 1, H, W) float32
                                # raw relative inverse depth (larger = nearer), unnormalised

Never imports the engine, the app or Qt: the engine only sees the `DepthEstimator` protocol.
"""

from live2diff_cam.depth.base import (
    DEFAULT_DEPTH_MODEL,
    DEPTH_ANYTHING_V2_SMALL,
    KNOWN_MODELS,
    MIDAS_DPT_HYBRID,
    DepthEstimator,
    DepthModelSpec,
    KnownDepthModel,
)
from live2diff_cam.depth.export import export_cached, export_depth_onnx
from live2diff_cam.depth.factory import create_depth_estimator
from live2diff_cam.depth.onnx_estimator import OnnxDepthEstimator
from live2diff_cam.depth.png import save_depth_png
from live2diff_cam.depth.sources import depth_cache_dir
from live2diff_cam.depth.torch_estimator import TorchDepthEstimator, load_transformers_depth_model

__all__ = [
    "DEFAULT_DEPTH_MODEL",
    "DEPTH_ANYTHING_V2_SMALL",
    "KNOWN_MODELS",
    "MIDAS_DPT_HYBRID",
    "DepthEstimator",
    "DepthModelSpec",
    "KnownDepthModel",
    "OnnxDepthEstimator",
    "TorchDepthEstimator",
    "create_depth_estimator",
    "depth_cache_dir",
    "export_cached",
    "export_depth_onnx",
    "load_transformers_depth_model",
    "save_depth_png",
]
