"""Pixels <-> latents: the VAE (full `AutoencoderKL` or TAESD's `AutoencoderTiny`, one API),
and host uint8 frames <-> device image tensors.

Images here are (N, 3, H, W) in [-1, 1] on the device; latents are (N, 4, H/f, W/f) already
multiplied by the VAE's scaling factor, as the UNet expects them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, AutoencoderTiny

from live2diff_cam.errors import EngineError


class LatentCodec:
    """Encode with the posterior mean (deterministic), decode to [-1, 1]."""

    def __init__(self, vae: AutoencoderKL | AutoencoderTiny) -> None:
        self.vae = vae
        self.scaling_factor = float(vae.config.scaling_factor)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        encoded = self.vae.encode(images)
        if isinstance(self.vae, AutoencoderTiny):
            latents = encoded.latents
        else:
            latents = encoded.latent_dist.mode()
        return latents * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents / self.scaling_factor).sample


def depth_to_image(depth: torch.Tensor, joint: bool) -> torch.Tensor:
    """Raw depth (N, 1, H, W), larger = nearer -> (N, 3, H, W) grey image in [-1, 1] for the VAE.

    Min-max normalised over the whole batch when `joint` (the warmup clip, as the original
    normalises the 8 warmup frames together), else per frame (ENGINE_SPEC §1). A flat map comes
    out all -1 instead of dividing by zero; no `.item()`, so no host sync.
    """
    dims = (0, 1, 2, 3) if joint else (1, 2, 3)
    low = depth.amin(dim=dims, keepdim=True)
    high = depth.amax(dim=dims, keepdim=True)
    unit = (depth - low) / (high - low).clamp_min(1e-6)
    return (unit * 2 - 1).expand(-1, 3, -1, -1)


def to_uint8_hwc(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8 on the same device (before the readback)."""
    pixels = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous()


class FrameConverter:
    """Host `(H', W', 3) uint8` frames to device `(1, 3, H, W)` float in [0, 1], and device
    uint8 frames back to host numpy arrays.

    Any input size is centre-cropped to the target aspect and resized on the device, so only
    the raw frame crosses the bus. On CUDA the upload goes through two pinned staging buffers
    used in turn (an upload waits, on the host, only for the copy from the same buffer two
    frames ago), and the readback goes into a ring of `ring` pinned buffers with an event
    each, so the host waits for one frame's copy, never for the whole device.
    A returned array is a view of its ring slot: valid until `ring` more frames are read back.
    """

    def __init__(
        self, height: int, width: int, device: torch.device, dtype: torch.dtype, ring: int = 16
    ) -> None:
        self.height, self.width = height, width
        self.device, self.dtype = device, dtype
        self.cuda = device.type == "cuda"
        self._staging: list[torch.Tensor] = []
        self._uploaded: list[torch.cuda.Event] = []
        self._upload_turn = 0
        self._ring = torch.empty((ring, height, width, 3), dtype=torch.uint8, pin_memory=self.cuda)
        self._ring_numpy = self._ring.numpy()
        self._copied = [torch.cuda.Event() for _ in range(ring)] if self.cuda else []
        self._ring_turn = 0

    def to_device(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        # 1. Upload the uint8 frame as it is (a quarter of the bytes of a float frame).
        if isinstance(frame, np.ndarray):
            frame = torch.from_numpy(np.ascontiguousarray(frame))
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != torch.uint8:
            raise EngineError(
                f"expected an (H, W, 3) uint8 RGB frame, got {tuple(frame.shape)} {frame.dtype}"
            )
        if self.cuda and frame.device.type == "cpu":
            frame = self._stage(frame)
        image = frame.to(self.device, non_blocking=True).permute(2, 0, 1)[None]
        if self.cuda and frame.is_pinned():
            self._uploaded[self._upload_turn].record()
            self._upload_turn ^= 1
        # 2. Centre-crop to the engine's aspect, then resize.
        h, w = image.shape[-2:]
        if (h, w) != (self.height, self.width):
            if h * self.width > w * self.height:
                crop = round(w * self.height / self.width)
                image = image[..., (h - crop) // 2 : (h - crop) // 2 + crop, :]
            else:
                crop = round(h * self.width / self.height)
                image = image[..., (w - crop) // 2 : (w - crop) // 2 + crop]
            image = F.interpolate(
                image.float(), size=(self.height, self.width), mode="bilinear", antialias=True
            )
        return (image.to(self.dtype) / 255.0).clamp(0, 1)

    def _stage(self, frame: torch.Tensor) -> torch.Tensor:
        if not self._staging or self._staging[0].shape != frame.shape:
            self._staging = [
                torch.empty(frame.shape, dtype=torch.uint8, pin_memory=True) for _ in range(2)
            ]
            self._uploaded = [torch.cuda.Event() for _ in range(2)]
            self._upload_turn = 0
        else:
            # The copy out of this buffer was queued two frames ago; wait for that copy alone.
            self._uploaded[self._upload_turn].synchronize()
        staging = self._staging[self._upload_turn]
        staging.copy_(frame)
        return staging

    def download(self, frames: torch.Tensor) -> list[int]:
        """Queue the copy of (N, H, W, 3) uint8 device frames into the next ring slots; returns
        their slot numbers for `host_frame`. Asynchronous on CUDA."""
        slots = []
        for frame in frames:
            slot = self._ring_turn
            self._ring_turn = (slot + 1) % len(self._ring)
            self._ring[slot].copy_(frame, non_blocking=True)
            if self.cuda:
                self._copied[slot].record()
            slots.append(slot)
        return slots

    def host_frame(self, slot: int) -> np.ndarray:
        """The frame read back into ring slot `slot`, once its copy has landed: (H, W, 3) uint8."""
        if self.cuda:
            self._copied[slot].synchronize()  # this frame's copy only, not the whole device
        return self._ring_numpy[slot]

    def to_host(self, images: torch.Tensor) -> np.ndarray:
        """(1, 3, H, W) in [-1, 1] -> a new (H, W, 3) uint8 numpy array (synchronous)."""
        return to_uint8_hwc(images)[0].cpu().numpy()
