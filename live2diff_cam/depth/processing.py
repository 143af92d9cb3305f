"""Torch pre- and post-processing shared by every depth runtime.

Owns the checks on the frames the engine hands in, the resize + pixel normalisation into a
network's input, and the way back: the raw map resized to the frame size.
Knows nothing about which runtime (onnxruntime, torch) runs the network in between.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from live2diff_cam.depth.base import DepthModelSpec
from live2diff_cam.errors import DepthError

# A raw depth map whose range is below this is flat: it maps to all 0 instead of amplified noise
# (and never to NaN through a division by zero).


def check_frames(frames: object) -> torch.Tensor:
    """Return `frames` if it is (N, 3, H, W) floating point, else raise DepthError."""
    if not isinstance(frames, torch.Tensor):
        raise DepthError(
            f"depth estimator expects a torch.Tensor (N, 3, H, W), got {type(frames).__name__}"
        )
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise DepthError(
            f"depth estimator expects frames (N, 3, H, W) RGB, got shape {tuple(frames.shape)}"
            " (convert (N, H, W, 3) with .permute(0, 3, 1, 2))"
        )
    if not frames.is_floating_point():
        raise DepthError(
            f"depth estimator expects float frames in [0, 1], got {frames.dtype} "
            "(divide uint8 frames by 255)"
        )
    if frames.shape[0] == 0:
        raise DepthError("depth estimator got an empty batch (N = 0)")
    return frames


class DepthProcessor:
    """Frames -> network input, and raw network output -> engine depth maps, on one device."""

    def __init__(self, spec: DepthModelSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        # (1, 3, 1, 1) so they broadcast over a batch; made once, not per frame.
        self.mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def preprocess(self, frames: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 3, h, w) float32 `(x - mean) / std` at the model size.

        Writes into `out` when given (a buffer that onnxruntime reads through IO binding).
        """
        size = (self.spec.input_height, self.spec.input_width)
        x = frames.to(device=self.device, dtype=torch.float32)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if out is None:
            return (x - self.mean).div_(self.std)
        return torch.sub(x, self.mean, out=out).div_(self.std)

    @staticmethod
    def postprocess(raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Raw depth (N, h, w) or (N, 1, h, w) -> (N, 1, H, W) float32 raw depth at frame size.

        Not normalised: the engine min-max normalises, over the whole warmup clip or per frame
        (ENGINE_SPEC §1), which needs the raw values.
        """
        if raw.ndim == 3:
            raw = raw.unsqueeze(1)
        if raw.ndim != 4 or raw.shape[1] != 1:
            raise DepthError(
                f"depth model output has shape {tuple(raw.shape)}; expected (N, h, w) or "
                "(N, 1, h, w): is this a depth-estimation model?"
            )
        depth = raw.float()
        if tuple(depth.shape[-2:]) != tuple(size):
            depth = F.interpolate(depth, size=size, mode="bilinear", align_corners=False)
        # Never hand out the runtime's output buffer itself: the next run overwrites it.
        return depth.clone() if depth.data_ptr() == raw.data_ptr() else depth
