"""The naive streaming baseline the KV-cache replaces (for benchmarks, not for use).

Without a cache, every new frame must re-run the UNet over its whole attention window — the
warmup frames plus the recent frames — at every denoising step, and keep only the newest
output: `window` times the UNet work of the cached engine (paper §3.3, Fig. 4's motivation).
(The offline *reference* of the equivalence tests is `StreamEngine.denoise_offline`.)
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from live2diff_cam.engine.codec import to_uint8_hwc
from live2diff_cam.engine.stream import StreamEngine


class WindowRecomputeBaseline:
    """`step(frame)` like `StreamEngine.step`, recomputing the window for every frame.

    Uses the engine's weights, noise and schedule; its own cache is never read.
    """

    def __init__(self, engine: StreamEngine) -> None:
        self.engine = engine
        config = engine.config
        self._warmup: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        self._recent: deque[tuple[torch.Tensor, torch.Tensor | None]] = deque(
            maxlen=config.window - config.warmup
        )

    @property
    def delay_frames(self) -> int:
        return 0

    def pop_finished(self) -> None:
        return None  # every step returns its own frame

    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> np.ndarray | None:
        engine = self.engine
        encoded = engine.encode_frame(frame)
        if len(self._warmup) < engine.config.warmup:
            self._warmup.append(encoded)
            if len(self._warmup) < engine.config.warmup:
                return None
        else:
            self._recent.append(encoded)
        clip = self._warmup + list(self._recent)
        z = torch.cat([z for z, _ in clip])
        maps = [d for _, d in clip if d is not None]
        depth = torch.cat(maps) if maps else None
        x0 = engine.denoiser.denoise_clip(z, depth, write_cache=False)
        return to_uint8_hwc(engine.codec.decode(x0[-1:]))[0].cpu().numpy()
