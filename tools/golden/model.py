"""The small random model the golden frames are made with: SD1.5's exact topology, tiny widths.

The authors' `UNet3D...from_pretrained_2d` forces SD1.5's four block types (three cross-attention
down blocks, a plain one, a cross-attention mid block, the mirror going up), so the built-in
2-level `tiny` model does not fit it. This one keeps those four levels, motion modules at all of
them and the depth mapping network, at widths (32, 32, 64, 64) with one resnet per level and a
2-layer CLIP on the real SD1.5 tokenizer. The layers that training starts at zero get random
weights, so the temporal and depth paths change every frame.

Both sides build it from the seed alone: `make_golden.sh` writes it to files in the released
formats for the original, and `tests/engine/test_golden.py` builds it in memory for ours;
`fingerprint` tells the test when the two have drifted apart.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from live2diff_cam.engine.models import (
    EngineModel,
    adapter_for,
    live2diff_scheduler,
    randomize_zero_initialised,
    sd15_tokenizer,
)

SEED = 12


def build_golden_model(seed: int = SEED) -> EngineModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=8,
            block_out_channels=(32, 32, 64, 64),
            layers_per_block=1,
            down_block_types=(
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "DownBlock2D",
            ),
            up_block_types=(
                "UpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
            ),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        adapter = adapter_for(unet)
        randomize_zero_initialised(adapter, std=0.2)
        vae = AutoencoderKL(
            block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=32,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=49408,
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                projection_dim=32,
            )
        )
    return EngineModel(
        unet=unet.eval(),
        adapter=adapter.eval(),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=sd15_tokenizer(),
        scheduler=live2diff_scheduler(),
        name="golden",
    )


def fingerprint(model: EngineModel) -> dict[str, float]:
    """Sum of absolute weights per part: changes whenever the seeded build does."""
    parts = ("unet", "adapter", "vae", "text_encoder")
    return {
        part: float(sum(p.detach().double().abs().sum() for p in getattr(model, part).parameters()))
        for part in parts
    }
