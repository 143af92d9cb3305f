"""Writing one depth map as a grayscale PNG (for `run --save-depth DIR` and for looking at maps).

Owns the raw map -> min-max normalised 16- or 8-bit conversion and the cv2 write. White = near,
black = far, as the engine sees it. Knows nothing about folders of frames or naming schemes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from live2diff_cam.errors import DepthError


def save_depth_png(depth: torch.Tensor, path: str | Path, bits: int = 16) -> Path:
    """Write one raw depth map `(H, W)`, `(1, H, W)` or `(1, 1, H, W)` as a PNG; return path.

    The map is min-max normalised on its own (white = nearest, black = farthest; a flat map is
    black). `bits`: 16 (uint16, full precision) or 8 (uint8, smaller files). Parent folders
    are created.
    """
    if bits not in (8, 16):
        raise DepthError(f"save_depth_png: bits must be 8 or 16, got {bits}")
    if not isinstance(depth, torch.Tensor):
        raise DepthError(f"save_depth_png expects a torch.Tensor, got {type(depth).__name__}")
    image = depth.detach()
    while image.ndim > 2 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise DepthError(
            f"save_depth_png writes one map (H, W), (1, H, W) or (1, 1, H, W); got shape "
            f"{tuple(depth.shape)} (save each frame of a batch on its own)"
        )
    peak = 65535 if bits == 16 else 255
    dtype = np.uint16 if bits == 16 else np.uint8
    image = image.float()
    unit = (image - image.min()) / (image.max() - image.min()).clamp_min(1e-6)
    values = unit.mul(peak).round_().cpu().numpy().astype(dtype)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise DepthError(f"save_depth_png writes PNG files: {path} should end in .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = cv2.imwrite(str(path), values)
    except cv2.error as error:
        raise DepthError(f"could not write {path} ({error}): check the folder") from error
    if not written:
        raise DepthError(f"could not write {path}: check that the folder is writable")
    return path
