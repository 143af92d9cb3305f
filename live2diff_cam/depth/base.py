"""What a depth estimator is, and what each depth network expects as input.

Owns the `DepthEstimator` protocol (the contract the engine relies on), `DepthModelSpec` (input
size and pixel normalisation of one network) and the table of known models with their real hub
locations. Knows nothing about onnxruntime, files on disk or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from live2diff_cam.errors import DepthError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@runtime_checkable
class DepthEstimator(Protocol):
    """Anything that turns a batch of frames into raw depth maps.

    `frames`: (N, 3, H, W) float in [0, 1] RGB, on the engine's device.
    returns:  (N, 1, H, W) float32 on the same device, same H and W: the network's relative
              inverse depth (larger = nearer, as MiDaS and Depth-Anything output), resized but
              NOT normalised. The engine min-max normalises it as the original does: the warmup
              clip's maps together, every later frame on its own (ENGINE_SPEC §1).
    A frame's depth does not depend on the other frames of its batch. On CUDA the work is
    ordered after the caller's current stream and before its later work (events, never a
    device-wide synchronisation).
    """

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class DepthModelSpec:
    """The input one depth network was trained on: size and per-channel pixel normalisation.

    The network sees `(frame - mean) / std` resized (bilinear) to `input_height x input_width`;
    both must be multiples of `multiple_of` (the ViT patch size).
    """

    name: str
    input_height: int
    input_width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    multiple_of: int = 1

    def __post_init__(self) -> None:
        if self.multiple_of < 1:
            raise DepthError(f"multiple_of must be >= 1, got {self.multiple_of}")
        for side in (self.input_height, self.input_width):
            if side < 1 or side % self.multiple_of:
                raise DepthError(
                    f"depth model {self.name!r}: input size {self.input_height}x"
                    f"{self.input_width} must be positive multiples of {self.multiple_of}"
                )
        if len(self.mean) != 3 or len(self.std) != 3:
            raise DepthError(f"depth model {self.name!r}: mean and std need 3 values (RGB)")
        if min(self.std) <= 0:
            raise DepthError(f"depth model {self.name!r}: std must be > 0, got {self.std}")

    def with_input_size(self, height: int, width: int) -> DepthModelSpec:
        return DepthModelSpec(self.name, height, width, self.mean, self.std, self.multiple_of)


# Depth-Anything-V2 (Yang et al. 2024): DINOv2 ViT-S/14 encoder, trained at 518x518.
DEPTH_ANYTHING_V2_SMALL = DepthModelSpec(
    "depth-anything-v2-small", 518, 518, IMAGENET_MEAN, IMAGENET_STD, multiple_of=14
)
# MiDaS v3 DPT-Hybrid (Ranftl et al. 2021), the paper's depth model: 384x384, mean = std = 0.5.
MIDAS_DPT_HYBRID = DepthModelSpec(
    "dpt-hybrid-midas", 384, 384, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), multiple_of=16
)


@dataclass(frozen=True)
class KnownDepthModel:
    """Where one depth model lives on the Hugging Face Hub, in ONNX and in PyTorch form.

    `onnx_repo`/`onnx_file`: a ready ONNX file (None: export it with `live2diff-cam export-depth`).
    `torch_repo`: transformers weights (`AutoModelForDepthEstimation.from_pretrained`).
    """

    spec: DepthModelSpec
    torch_repo: str
    onnx_repo: str | None = None
    onnx_file: str | None = None


KNOWN_MODELS: dict[str, KnownDepthModel] = {
    "depth-anything-v2-small": KnownDepthModel(
        DEPTH_ANYTHING_V2_SMALL,
        torch_repo="depth-anything/Depth-Anything-V2-Small-hf",
        # Input `pixel_values` (N, 3, H, W), output `predicted_depth` (N, H, W), dynamic sizes.
        onnx_repo="onnx-community/depth-anything-v2-small",
        onnx_file="onnx/model.onnx",
    ),
    "dpt-hybrid-midas": KnownDepthModel(MIDAS_DPT_HYBRID, torch_repo="Intel/dpt-hybrid-midas"),
}
DEFAULT_DEPTH_MODEL = "depth-anything-v2-small"


def known_model(source: str) -> KnownDepthModel | None:
    """The known model named by an alias or by one of its hub ids (case-insensitive), else None."""
    key = source.strip().lower()
    if key == "midas":
        key = "dpt-hybrid-midas"
    if key in KNOWN_MODELS:
        return KNOWN_MODELS[key]
    for model in KNOWN_MODELS.values():
        if key in {model.torch_repo.lower(), (model.onnx_repo or "").lower()}:
            return model
    return None


def spec_for_model_type(model_type: str, image_size: int | None = None) -> DepthModelSpec:
    """The input spec of a transformers depth model, from its config's `model_type`."""
    if model_type in ("depth_anything", "depth_anything_v2"):
        spec = DEPTH_ANYTHING_V2_SMALL
    elif model_type == "dpt":
        spec = MIDAS_DPT_HYBRID
    else:
        raise DepthError(
            f"unsupported depth model type {model_type!r}: use a Depth-Anything(-V2) or DPT/MiDaS "
            "model (e.g. depth-anything/Depth-Anything-V2-Small-hf or Intel/dpt-hybrid-midas)"
        )
    if image_size and image_size % spec.multiple_of == 0:
        spec = spec.with_input_size(image_size, image_size)
    return spec
