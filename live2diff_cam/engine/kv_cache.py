"""Multi-timestep KV-cache of the temporal attention layers (paper Fig. 4).

One cache per temporal self-attention layer and per denoising step index s: a frame at step s
reads and writes cache[s] only, so it sees earlier frames as they were at step s. Keys and
values are stored without the position term (`W x + b`); positions are added at attention time
because a slot's position changes as the ring rolls.

Everything is allocated once with fixed shapes, written in place with tensor indices (no host
sync), so a captured CUDA graph or compiled step replays it. The cache knows nothing about the
UNet or the frames; `attention_mask.stream_slots` decides which slot a frame uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LayerShape:
    """Token count (latent pixels) and channels of one temporal attention layer."""

    tokens: int
    channels: int
    heads: int


class TemporalKVCache:
    """Keys/values of past frames for every temporal attention layer and denoising step.

    Per layer: `k`, `v` of shape (T, tokens, heads, L, head_dim) — slots last but one so that a
    step's view reshapes to SDPA's (B, tokens*heads, L, head_dim) without a copy.
    With `store_keys_values=False` the layer input `x` (T, tokens, L, C) is kept instead and
    projected again at every read: same results, more compute (paper §5.3 equivalence).
    Slots [0, warmup) hold the warmup frames for the whole stream; the rest is a ring.
    """

    def __init__(
        self,
        layers: list[LayerShape],
        steps: int,
        window: int,
        *,
        store_keys_values: bool = True,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.steps = steps
        self.window = window
        self.store_keys_values = store_keys_values
        self.layers = layers
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []
        self.x: list[torch.Tensor] = []
        for shape in layers:
            if store_keys_values:
                size = (steps, shape.tokens, shape.heads, window, shape.channels // shape.heads)
                self.k.append(torch.zeros(size, device=device, dtype=dtype))
                self.v.append(torch.zeros(size, device=device, dtype=dtype))
            else:
                size = (steps, shape.tokens, window, shape.channels)
                self.x.append(torch.zeros(size, device=device, dtype=dtype))

    def reset(self) -> None:
        """Zero every slot. Masks already hide unwritten slots; zeros keep them finite."""
        for tensor in (*self.k, *self.v, *self.x):
            tensor.zero_()

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.k, *self.v, *self.x))
