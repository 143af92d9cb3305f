"""Live2Diff's additions to an SD1.5 UNet: temporal motion modules and the depth mapping network.

`MotionAdapter.state_dict()` uses exactly the key names of the released Live2Diff checkpoint
(AnimateDiff layout): `down_blocks.{i}.motion_modules.{j}.temporal_transformer.{norm, proj_in,
transformer_blocks.0.{attention_blocks.{0,1}.{to_q,to_k,to_v,to_out.0}, norms.{0,1}, ff.net.*,
ff_norm}, proj_out}`, the same under `up_blocks`, and `flow_conv_in.{conv_in, blocks.N,
conv_out}`. The sinusoidal position table is recomputed, not loaded.

Temporal attention runs in one of two modes, chosen by the `TemporalContext` it is handed:
a whole clip with the Fig. 1(d) mask (training layout, warmup, offline reference), or one new
frame per batch entry against the multi-timestep KV-cache (streaming, Fig. 4). Spatial layers and
this module's GroupNorm see one frame at a time, so both modes normalise per frame.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from torch import nn

from live2diff_cam.engine.attention_mask import StreamSlots
from live2diff_cam.engine.kv_cache import LayerShape, TemporalKVCache

MAX_POSITIONS = 24


@dataclass(frozen=True)
class TemporalContext:
    """How temporal attention sees the frame axis in one UNet call.

    Clip mode (`slots is None`): the batch is B clips of `num_frames` frames, (B*F, C, H, W);
    `mask` (F, F) bool, `positions` (F,) long; if `write_step` is set, the clip's keys/values
    are written to slots [0, F) of cache step `write_step` (the warmup pass).
    Stream mode: batch row r is one new frame at denoising step `cache_steps[r]` (a slice of
    step indices); `slots` says where each writes and what it may read.
    """

    num_frames: int
    mask: torch.Tensor | None = None
    positions: torch.Tensor | None = None
    cache: TemporalKVCache | None = None
    write_step: int | None = None
    cache_steps: slice | None = None
    slots: StreamSlots | None = None


def sinusoidal_positions(channels: int, length: int = MAX_POSITIONS) -> torch.Tensor:
    """(length, channels) sin/cos table of the Transformer paper, as AnimateDiff uses it."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, channels, 2) * (-math.log(10000.0) / channels))
    table = torch.zeros(length, channels)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class TemporalSelfAttention(nn.Module):
    """Self-attention along the frame axis with positions added to its input (q, k and v).

    W(x + pe) = Wx + W pe: the position term is projected separately, so the cache holds
    position-free keys and the projected table (`q_pe`, `k_pe`, `v_pe`: MAX_POSITIONS x C) is
    computed once from the weights, not per frame. `refresh_position_projections()` must run
    after the projection weights change (it runs on construction and after load_state_dict).
    """

    q_pe: torch.Tensor
    k_pe: torch.Tensor
    v_pe: torch.Tensor

    def __init__(self, channels: int, heads: int, layer_id: int) -> None:
        super().__init__()
        self.heads = heads
        self.layer_id = layer_id
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(channels, channels, bias=False)
        self.to_v = nn.Linear(channels, channels, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels), nn.Dropout(0.0)])
        self.register_buffer("pe", sinusoidal_positions(channels), persistent=False)
        for name in ("q_pe", "k_pe", "v_pe"):
            self.register_buffer(name, torch.zeros(MAX_POSITIONS, channels), persistent=False)
        self.refresh_position_projections()
        self.register_load_state_dict_post_hook(
            lambda module, _keys: module.refresh_position_projections()
        )

    @torch.no_grad()
    def refresh_position_projections(self) -> None:
        pe = self.pe.to(self.to_q.weight.dtype)
        self.q_pe.copy_(self.to_q(pe))
        self.k_pe.copy_(self.to_k(pe))
        self.v_pe.copy_(self.to_v(pe))

    def forward(self, x: torch.Tensor, ctx: TemporalContext) -> torch.Tensor:
        # x: (B, F, S, C) — B clips (or stream entries), F frames, S latent pixels.
        attend = self._clip_attention if ctx.slots is None else self._stream_attention
        out = attend(x, ctx)
        return self.to_out[1](self.to_out[0](out))

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        # (B, F, S, C) -> (B, S*heads, F, d)
        b, f, s, c = t.shape
        t = t.view(b, f, s, self.heads, c // self.heads).permute(0, 2, 3, 1, 4)
        return t.reshape(b, s * self.heads, f, c // self.heads)

    def _clip_attention(self, x: torch.Tensor, ctx: TemporalContext) -> torch.Tensor:
        b, f, s, c = x.shape
        pos = ctx.positions
        k_raw, v_raw = self.to_k(x), self.to_v(x)
        if ctx.write_step is not None:
            self._write_clip(ctx.cache, ctx.write_step, x, k_raw, v_raw)
        q = self.to_q(x) + self.q_pe[pos][None, :, None]
        k = k_raw + self.k_pe[pos][None, :, None]
        v = v_raw + self.v_pe[pos][None, :, None]
        out = F.scaled_dot_product_attention(
            self._split_heads(q), self._split_heads(k), self._split_heads(v), attn_mask=ctx.mask
        )
        # (B, S*heads, F, d) -> (B, F, S, C)
        return out.view(b, s, self.heads, f, -1).permute(0, 3, 1, 2, 4).reshape(b, f, s, c)

    def _write_clip(self, cache, step, x, k_raw, v_raw) -> None:
        # The warmup clip (batch of one) fills slots [0, F) of cache step `step`.
        _, f, s, c = x.shape
        if cache.recompute_keys_values:
            cache.inputs(self.layer_id)[step, :, :f] = x[0].permute(1, 0, 2)
        else:
            shape = (f, s, self.heads, c // self.heads)
            cache.keys(self.layer_id)[step, :, :, :f] = k_raw[0].view(shape).permute(1, 2, 0, 3)
            cache.values(self.layer_id)[step, :, :, :f] = v_raw[0].view(shape).permute(1, 2, 0, 3)

    def _stream_attention(self, x: torch.Tensor, ctx: TemporalContext) -> torch.Tensor:
        # One query frame per batch row against its step's cache (Fig. 4). The cached keys and
        # values are read where they lie: q.(k + k_pos) = q.k + q.k_pos and
        # p.(v + v_pos) = p.v + p.v_pos, so `keys + k_pos` is never materialised.
        b, _, s, c = x.shape
        h, d = self.heads, c // self.heads
        slots, cache = ctx.slots, ctx.cache
        assert slots is not None and cache is not None, "stream mode needs slots and a cache"
        window = cache.window
        new = x[:, 0]  # (B, S, C)
        rows = torch.arange(b, device=x.device)
        if cache.recompute_keys_values:
            inputs = cache.inputs(self.layer_id)[ctx.cache_steps]  # (B, S, L, C)
            inputs[rows, :, slots.write_slot] = new
            keys = self.to_k(inputs).view(b, s, window, h, d).transpose(2, 3)
            values = self.to_v(inputs).view(b, s, window, h, d).transpose(2, 3)
        else:
            # (B, S, heads, L, d) views into the cache: the new frame is written in place.
            keys = cache.keys(self.layer_id)[ctx.cache_steps]
            values = cache.values(self.layer_id)[ctx.cache_steps]
            keys[rows, :, :, slots.write_slot] = self.to_k(new).view(b, s, h, d)
            values[rows, :, :, slots.write_slot] = self.to_v(new).view(b, s, h, d)
        q = (self.to_q(new) + self.q_pe[slots.query_pos][:, None]).view(b, s, h, 1, d)
        # key_pos (B, L) -> position terms (B, heads, L, d), shared by every latent pixel.
        k_pos = self.k_pe[slots.key_pos].view(b, window, h, d).transpose(1, 2)
        v_pos = self.v_pe[slots.key_pos].view(b, window, h, d).transpose(1, 2)
        scores = (q @ keys.transpose(-1, -2))[..., 0, :]  # (B, S, heads, L)
        scores = scores + torch.einsum("bshd,bhld->bshl", q[..., 0, :], k_pos)
        scores = (scores.float() * d**-0.5).masked_fill(~slots.valid[:, None, None, :], -math.inf)
        p = scores.softmax(dim=-1).to(x.dtype)
        out = (p[..., None, :] @ values)[..., 0, :] + torch.einsum("bshl,bhld->bshd", p, v_pos)
        return out.reshape(b, 1, s, c)


class TemporalTransformerBlock(nn.Module):
    """Two temporal self-attentions (pre-LayerNorm, residual), then a GEGLU feed-forward."""

    def __init__(self, channels: int, heads: int, first_layer_id: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList(
            [TemporalSelfAttention(channels, heads, first_layer_id + i) for i in range(2)]
        )
        self.norms = nn.ModuleList([nn.LayerNorm(channels) for _ in range(2)])
        self.ff = FeedForward(channels, activation_fn="geglu")
        self.ff_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor, ctx: TemporalContext) -> torch.Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
            x = attention(norm(x), ctx) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer(nn.Module):
    """GroupNorm -> proj_in -> one temporal block -> proj_out, applied to (B*F, C, H, W)."""

    def __init__(self, channels: int, heads: int, first_layer_id: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList(
            [TemporalTransformerBlock(channels, heads, first_layer_id)]
        )
        # Zero-initialised as in AnimateDiff: an untrained module is the identity.
        self.proj_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, hidden: torch.Tensor, ctx: TemporalContext) -> torch.Tensor:
        n, c, h, w = hidden.shape
        assert n % ctx.num_frames == 0, "expected a (B*F, C, H, W) batch"
        frames = ctx.num_frames
        x = self.norm(hidden).permute(0, 2, 3, 1).reshape(n // frames, frames, h * w, c)
        x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, ctx)
        x = self.proj_out(x)
        return x.reshape(n, h, w, c).permute(0, 3, 1, 2) + hidden


class MotionModule(nn.Module):
    """One AnimateDiff motion module (key prefix `temporal_transformer`)."""

    def __init__(self, channels: int, heads: int, first_layer_id: int) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, heads, first_layer_id)

    def forward(self, hidden: torch.Tensor, ctx: TemporalContext) -> torch.Tensor:
        return self.temporal_transformer(hidden, ctx)


class MotionBlock(nn.Module):
    """The motion modules of one UNet block (key prefix `motion_modules`)."""

    motion_modules: nn.ModuleList

    def __init__(self, modules: list[MotionModule]) -> None:
        super().__init__()
        self.motion_modules = nn.ModuleList(modules)


class DepthMappingNetwork(nn.Module):
    """Depth latent (B, 4, h, w) -> residual for conv_in's output (B, C0, h, w) (`flow_conv_in`).

    conv3x3 4->16, then pairs 16->16, 16->32, 32->32, 32->96, 96->96, 96->256, SiLU after each,
    then a zero-initialised conv3x3 256->C0 (ENGINE_SPEC §1).
    """

    def __init__(self, in_channels: int, out_channels: int, widths=(16, 32, 96, 256)) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        blocks = []
        for c_in, c_out in itertools.pairwise(widths):
            blocks += [nn.Conv2d(c_in, c_in, 3, padding=1), nn.Conv2d(c_in, c_out, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)  # type: ignore[arg-type]  # Conv2d has a bias here

    def forward(self, depth_latent: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.conv_in(depth_latent))
        for conv in self.blocks:
            x = F.silu(conv(x))
        return self.conv_out(x)


class MotionAdapter(nn.Module):
    """Motion modules for every down/up block of a UNet plus the depth mapping network.

    Down block i gets `layers_per_block` modules, up block i `layers_per_block + 1`, with the
    channels of that block; none in the mid block (as released). Temporal attention layers are
    numbered in module order; the KV-cache keeps one entry per number.
    """

    def __init__(
        self,
        block_out_channels: tuple[int, ...],
        layers_per_block: int,
        heads: int = 8,
        latent_channels: int = 4,
    ) -> None:
        super().__init__()
        self.block_out_channels = tuple(block_out_channels)
        self.heads = heads
        layer_id = 0

        def block(channels: int, count: int) -> MotionBlock:
            nonlocal layer_id
            modules = []
            for _ in range(count):
                modules.append(MotionModule(channels, heads, layer_id))
                layer_id += 2
            return MotionBlock(modules)

        self.down_blocks = nn.ModuleList([block(ch, layers_per_block) for ch in block_out_channels])
        self.up_blocks = nn.ModuleList(
            [block(ch, layers_per_block + 1) for ch in reversed(block_out_channels)]
        )
        self.flow_conv_in = DepthMappingNetwork(latent_channels, block_out_channels[0])

    def attention_layers(self) -> Iterator[tuple[TemporalSelfAttention, int]]:
        """Every temporal attention layer with its UNet level (0 = full latent resolution)."""
        levels = len(self.down_blocks)
        for blocks, level_of in (
            (self.down_blocks, lambda i: i),
            (self.up_blocks, lambda i: levels - 1 - i),
        ):
            for i, motion_block in enumerate(blocks):
                # modules() walks in registration order: the order of the layer ids.
                for layer in motion_block.modules():
                    if isinstance(layer, TemporalSelfAttention):
                        yield layer, level_of(i)

    def layer_shapes(self, latent_height: int, latent_width: int) -> list[LayerShape]:
        """Cache shapes per attention layer, in `layer_id` order, for a latent of that size."""
        shapes = []
        for layer, level in self.attention_layers():
            tokens = (latent_height >> level) * (latent_width >> level)
            channels = layer.to_q.in_features
            shapes.append(LayerShape(tokens=tokens, channels=channels, heads=layer.heads))
        return shapes
