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


class FrameConverter:
    """Host `(H', W', 3) uint8` frames to device `(1, 3, H, W)` float in [0, 1] and back.

    Any input size is centre-cropped to the target aspect and resized on the device, so only
    the raw frame crosses the bus. On CUDA the upload goes through a pinned staging buffer kept
    for the last input size.
    """

    def __init__(self, height: int, width: int, device: torch.device, dtype: torch.dtype) -> None:
        self.height, self.width = height, width
        self.device, self.dtype = device, dtype
        self._staging: torch.Tensor | None = None
        self._uploaded: torch.cuda.Event | None = None

    def to_device(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        # 1. Upload the uint8 frame as it is (a quarter of the bytes of a float frame).
        if isinstance(frame, np.ndarray):
            frame = torch.from_numpy(np.ascontiguousarray(frame))
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != torch.uint8:
            raise EngineError(
                f"expected an (H, W, 3) uint8 RGB frame, got {tuple(frame.shape)} {frame.dtype}"
            )
        staged = self.device.type == "cuda" and frame.device.type == "cpu"
        if staged:
            if self._staging is None or self._staging.shape != frame.shape:
                self._staging = torch.empty(frame.shape, dtype=torch.uint8, pin_memory=True)
                self._uploaded = torch.cuda.Event()
            else:
                # The last upload from this buffer may still be queued (nothing synchronises
                # between warmup frames): wait for that copy alone before overwriting it.
                self._uploaded.synchronize()
            self._staging.copy_(frame)
            frame = self._staging
        image = frame.to(self.device, non_blocking=True).permute(2, 0, 1)[None]
        if staged:
            self._uploaded.record()
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

    @staticmethod
    def to_host(images: torch.Tensor) -> np.ndarray:
        """(1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8 numpy (one device->host copy)."""
        pixels = ((images[0].float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return pixels.permute(1, 2, 0).contiguous().cpu().numpy()
