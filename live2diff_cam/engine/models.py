"""`EngineModel`: the parts of a Live2Diff model, and the two models built without downloads.

* `tiny`: a seeded, randomly initialised miniature of the real architecture (same classes, the
  real SD1.5 tokenizer) for tests on a CPU. Its motion modules and depth network are NOT
  zero-initialised, so temporal and structure effects are visible.
* `sd15-random`: the full-size SD1.5 UNet + motion modules + VAE + text encoder built from the
  real SD1.5 configs shipped in `live2diff_cam/assets/sd15`, with random weights: the same FLOPs
  as the real model, for speed measurements where no weights can be downloaded.
* `build_random_taesd`: TAESD's released architecture (`assets/taesd`) with random weights, the
  fast autoencoder of the built-in models (`vae="taesd"`).

Loading real weights lives in `loaders.py`; this module knows no file formats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import cast

import torch
from diffusers import AutoencoderKL, AutoencoderTiny, LCMScheduler, UNet2DConditionModel
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from live2diff_cam.engine.motion_module import MotionAdapter

SD15_ASSETS = Path(str(resources.files("live2diff_cam") / "assets" / "sd15"))
TAESD_CONFIG = SD15_ASSETS.parent / "taesd" / "config.json"

# The noise schedule of the original Live2Diff (its base config): the motion modules were
# trained with these *linear* betas, not the `scaled_linear` ones of the SD1.5 folder (at
# t = 499, sqrt(alpha_bar) is 0.402 here and 0.527 there).
LIVE2DIFF_SCHEDULE = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear"
)


def live2diff_scheduler() -> LCMScheduler:
    """The LCM scheduler the original Live2Diff streams with, whatever the base model says."""
    return LCMScheduler(**LIVE2DIFF_SCHEDULE)


@dataclass
class EngineModel:
    """Everything the engine runs. Modules are on the CPU in float32 until the engine moves them."""

    unet: UNet2DConditionModel
    adapter: MotionAdapter
    vae: AutoencoderKL | AutoencoderTiny
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: LCMScheduler
    clip_skip: int = 1  # CLIP layers skipped from the end, as Live2Diff counts them (`text.py`)
    name: str = ""

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def pixel_multiple(self) -> int:
        """Frame sides must be multiples of this (VAE factor x UNet down-sampling)."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)


def sd15_tokenizer() -> CLIPTokenizer:
    return CLIPTokenizer.from_pretrained(SD15_ASSETS / "tokenizer")


def adapter_for(unet: UNet2DConditionModel) -> MotionAdapter:
    """A motion adapter shaped for `unet` (channels and layers per block from its config)."""
    config = unet.config
    return MotionAdapter(
        tuple(config.block_out_channels),
        config.layers_per_block,
        latent_channels=config.in_channels,
    )


def randomize_zero_initialised(adapter: MotionAdapter, std: float = 0.02) -> None:
    """Give the layers that training starts at zero (proj_out, depth conv_out) random weights,
    so a random model's temporal and depth paths change the result."""
    layers = [adapter.get_submodule("flow_conv_in.conv_out")]
    for blocks in (adapter.down_blocks, adapter.up_blocks):
        for block in blocks:
            for module in cast(nn.ModuleList, block.motion_modules):
                layers.append(module.get_submodule("temporal_transformer.proj_out"))
    with torch.no_grad():
        for layer in layers:
            for parameter in layer.parameters():  # weight, then bias
                parameter.normal_(0.0, std)


def build_tiny(seed: int = 0) -> EngineModel:
    """Tiny random model: 2 UNet levels (32, 64 channels, one resnet per level), VAE factor 2,
    2-layer CLIP. Every part is the real class; only the sizes shrink."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=16,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
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
            sample_size=64,
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
    return _random_model(unet, adapter, vae, text_encoder, "tiny")


def _random_model(unet, adapter, vae, text_encoder, name: str) -> EngineModel:
    """A built-in model: the real SD1.5 tokenizer and Live2Diff's schedule around random modules."""
    return EngineModel(
        unet=unet.eval(),
        adapter=adapter.eval(),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=sd15_tokenizer(),
        scheduler=live2diff_scheduler(),
        name=name,
    )


def _config(name: str) -> dict:
    return json.loads((SD15_ASSETS / name / "config.json").read_text())


def build_sd15_random(seed: int = 0) -> EngineModel:
    """Full-size SD1.5 architecture with random weights, from the shipped real configs."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(_config("unet"))
        adapter = adapter_for(unet)
        randomize_zero_initialised(adapter)
        vae = AutoencoderKL.from_config(_config("vae"))
        text_encoder = CLIPTextModel(CLIPTextConfig(**_config("text_encoder")))
    return _random_model(unet, adapter, vae, text_encoder, "sd15-random")


def build_random_taesd(seed: int = 0) -> AutoencoderTiny:
    """TAESD (SD1.5's tiny autoencoder) from its shipped config, random weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = AutoencoderTiny.from_config(json.loads(TAESD_CONFIG.read_text()))
    return vae.eval()
