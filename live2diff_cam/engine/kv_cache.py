"""Multi-timestep KV-cache of the temporal attention layers (paper Fig. 4).

One cache per temporal self-attention layer and per denoising step index s: a frame at step s
reads and writes cache[s] only, so it sees earlier frames as they were at step s. Keys and
values are stored without the position term (`W x`); positions are added at attention time
because a slot's position changes as the ring rolls.

The cache is an `nn.Module` whose tensors are buffers: allocated once with fixed shapes and
written in place with device-side indices, so a compiled step treats them as static memory
(CUDA graphs may capture the writes) and nothing re-traces. The cache knows nothing about the
UNet or the frames; `attention_mask.stream_slots` decides which slot a frame uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerShape:
    """Token count (latent pixels) and channels of one temporal attention layer."""

    tokens: int
    channels: int
    heads: int


class TemporalKVCache(nn.Module):
    """Keys/values of past frames for every temporal attention layer and denoising step.

    Per layer: keys and values of shape (T, tokens, heads, L, head_dim), slots last but one so
    that one step's view is a batch of (L, head_dim) matrices without a copy.
    With `recompute_keys_values=True` the layer input x (T, tokens, L, C) is kept instead and
    projected again at every read: same results, more compute (ENGINE_SPEC §5.3 equivalence).
    Slots [0, warmup) hold the warmup frames for the whole stream; the rest is a ring.
    """

    def __init__(
        self,
        layers: list[LayerShape],
        steps: int,
        window: int,
        *,
        recompute_keys_values: bool = False,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.steps = steps
        self.window = window
        self.recompute_keys_values = recompute_keys_values
        self.layers = layers
        for i, shape in enumerate(layers):
            if recompute_keys_values:
                inputs = (steps, shape.tokens, window, shape.channels)
                self.register_buffer(f"x{i}", torch.zeros(inputs, device=device, dtype=dtype))
            else:
                heads = (steps, shape.tokens, shape.heads, window, shape.channels // shape.heads)
                self.register_buffer(f"k{i}", torch.zeros(heads, device=device, dtype=dtype))
                self.register_buffer(f"v{i}", torch.zeros(heads, device=device, dtype=dtype))

    def keys(self, layer: int) -> torch.Tensor:
        return getattr(self, f"k{layer}")

    def values(self, layer: int) -> torch.Tensor:
        return getattr(self, f"v{layer}")

    def inputs(self, layer: int) -> torch.Tensor:
        return getattr(self, f"x{layer}")

    @torch.no_grad()
    def reset(self) -> None:
        """Zero every slot. Masks already hide unwritten slots; zeros keep them finite."""
        for buffer in self.buffers():
            buffer.zero_()

    @property
    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers())
