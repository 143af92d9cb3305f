"""The inflated UNet: diffusers' SD1.5 `UNet2DConditionModel` + Live2Diff's `MotionAdapter`.

One forward serves every mode (clip, warmup, stream); the `TemporalContext` decides what the
temporal layers see. Spatial layers (diffusers' resnets, transformers, samplers) run on the
frames folded into the batch, (B*F, C, H, W); a motion module follows each resnet+attention pair
of every down and up block; the depth mapping network's output, times `depth_scale`, is added
to conv_in's output. The diffusers UNet is kept whole and untouched, so its own loaders (hub,
folder, single file, LoRA) apply to it unchanged.
"""

from __future__ import annotations

from typing import cast

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from live2diff_cam.engine.motion_module import MotionAdapter, MotionBlock, TemporalContext


class Live2DiffUNet(nn.Module):
    """eps = unet(latents (N, 4, h, w), timesteps (N,), text (N, 77, D), depth (N, 4, h, w))."""

    def __init__(self, unet: UNet2DConditionModel, adapter: MotionAdapter) -> None:
        super().__init__()
        self.unet = unet
        self.adapter = adapter
        if len(adapter.down_blocks) != len(unet.down_blocks):
            raise ValueError("motion adapter and UNet have different numbers of blocks")

    @property
    def levels(self) -> int:
        return len(self.unet.down_blocks)

    def forward(
        self,
        sample: torch.Tensor,
        timesteps: torch.Tensor,
        text: torch.Tensor,
        ctx: TemporalContext,
        depth_latent: torch.Tensor | None = None,
        depth_scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        unet, adapter = self.unet, self.adapter
        # 1. Time embedding, one timestep per frame of the batch.
        emb = unet.time_embedding(unet.time_proj(timesteps).to(sample.dtype))
        text = text.expand(sample.shape[0], -1, -1)

        # 2. Input conv + depth structure residual (paper's lightweight conditioning module).
        hidden = unet.conv_in(sample)
        if depth_latent is not None:
            hidden = hidden + depth_scale * adapter.flow_conv_in(depth_latent)

        # 3. Down blocks: resnet -> cross-attention -> motion module, skips kept.
        skips = [hidden]
        for block, motion in zip(
            unet.down_blocks, cast("list[MotionBlock]", adapter.down_blocks), strict=True
        ):
            attentions = getattr(block, "attentions", None)
            for j, (resnet, motion_module) in enumerate(
                zip(block.resnets, motion.motion_modules, strict=True)
            ):
                hidden = resnet(hidden, emb)
                if attentions is not None:
                    hidden = attentions[j](hidden, encoder_hidden_states=text, return_dict=False)[0]
                hidden = motion_module(hidden, ctx)
                skips.append(hidden)
            for downsampler in block.downsamplers or ():
                hidden = downsampler(hidden)
                skips.append(hidden)

        # 4. Mid block (no motion module, as released).
        hidden = unet.mid_block(hidden, emb, encoder_hidden_states=text)

        # 5. Up blocks: concat skip -> resnet -> cross-attention -> motion module.
        for block, motion in zip(
            unet.up_blocks, cast("list[MotionBlock]", adapter.up_blocks), strict=True
        ):
            attentions = getattr(block, "attentions", None)
            for j, (resnet, motion_module) in enumerate(
                zip(block.resnets, motion.motion_modules, strict=True)
            ):
                hidden = resnet(torch.cat([hidden, skips.pop()], dim=1), emb)
                if attentions is not None:
                    hidden = attentions[j](hidden, encoder_hidden_states=text, return_dict=False)[0]
                hidden = motion_module(hidden, ctx)
            for upsampler in block.upsamplers or ():
                hidden = upsampler(hidden, skips[-1].shape[-2:] if skips else None)

        # 6. Output head.
        if unet.conv_norm_out is not None:
            hidden = unet.conv_act(unet.conv_norm_out(hidden))
        return unet.conv_out(hidden)
