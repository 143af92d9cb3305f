"""Model loading: turns a model source (and optional extras) into an `EngineModel`.

    load_model(
        source: str,                        # "tiny" | "sd15-random" | hub id | diffusers folder
                                            # | single-file SD1.5 checkpoint (.safetensors/.ckpt)
        *,
        motion_module=True,                 # True: the released live2diff.ckpt for real bases;
                                            # a file or hub id; False/None: temporal layers off
        lora=(),                            # [(file | folder | hub id, scale), ...], fused in order
        lcm_lora=True,                      # True: LCM-LoRA for real SD1.5 bases; False/None: off;
                                            # a file/hub id: that LCM-LoRA (any base)
        vae=None,                           # None: the model's own; "taesd" (built-in models:
                                            # random TAESD of the released architecture); hub
                                            # id/folder of an AutoencoderKL or AutoencoderTiny
        clip_skip=1,                        # CLIP layers skipped from the end: 0 = last layer,
                                            # 1 = penultimate (Live2Diff's default; see text.py)
        scheduler="live2diff",              # "live2diff": the original's linear LCM betas, which
                                            # the motion modules were trained with; "model": the
                                            # base model's own schedule (SD1.5: scaled_linear)
        seed=0,
        local_files_only=False, cache_dir=None,
        config=None,                        # diffusers folder with the configs of a single file
    ) -> EngineModel

Per source kind:
* `tiny`, `sd15-random`: built in code with random weights (`models.py`); no LCM-LoRA by default,
  but a motion module and LoRAs given here are still loaded into them.
* hub id (`stable-diffusion-v1-5/stable-diffusion-v1-5`) or local diffusers folder: every part
  through its `from_pretrained(source, subfolder=...)` (fp16-only downloads are found too), the
  model's scheduler config as `LCMScheduler.from_config` (used with `scheduler="model"`). Hub
  ids resolve through the ordinary Hugging Face cache, so `live2diff-cam download` fills it
  ahead of time.
* single file: an original-format SD1.5 checkpoint (`model.diffusion_model.*`,
  `first_stage_model.*`, `cond_stage_model.transformer.*`) through diffusers' single-file
  loading, with the SD1.5 configs shipped in `assets/sd15` (or `config`), fully offline.

The parts live beside this module: `sd_checkpoints.py` (base models and VAEs from their files),
`motion_loader.py` (the released motion module; without one the adapter keeps its
zero-initialised outputs: plain per-frame SD1.5), `lora_loader.py` (LoRAs fused into the
weights) and `weight_files.py` (reading files, hub ids and the cache).

Every failure is a `ModelLoadError` naming the file or id, what was expected, and what to do.
Modules come back on the CPU in float32; the engine moves and casts them. This module knows
nothing about frames, devices or the streaming engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from diffusers import LCMScheduler

from live2diff_cam.engine.lora_loader import fuse_lora
from live2diff_cam.engine.models import (
    SD15_ASSETS,
    EngineModel,
    adapter_for,
    build_random_taesd,
    build_sd15_random,
    build_tiny,
    live2diff_scheduler,
)
from live2diff_cam.engine.motion_loader import load_motion_module, motion_file
from live2diff_cam.engine.sd_checkpoints import load_base, load_vae
from live2diff_cam.engine.weight_files import LCM_LORA_SD15, LIVE2DIFF_REPO, HubOptions
from live2diff_cam.errors import ModelLoadError

log = logging.getLogger(__name__)

# Noise schedules `load_model(scheduler=...)` knows (see its docstring).
SCHEDULERS = ("live2diff", "model")
BUILT_IN: dict[str, Callable[[int], EngineModel]] = {
    "tiny": build_tiny,
    "sd15-random": build_sd15_random,
}


def load_model(
    source: str,
    *,
    motion_module: str | Path | bool | None = True,
    lora: Sequence[tuple[str | Path, float]] | None = (),
    lcm_lora: str | Path | bool | None = True,
    vae: str | Path | None = None,
    clip_skip: int = 1,
    scheduler: str = "live2diff",
    seed: int = 0,
    local_files_only: bool = False,
    cache_dir: str | Path | None = None,
    config: str | Path | None = None,
) -> EngineModel:
    """Build the `EngineModel` for `source` with its extras; see the module docstring."""
    if clip_skip < 0:
        raise ModelLoadError(
            f"clip_skip must be 0 or more (0 = last CLIP layer, 1 = penultimate), got {clip_skip}"
        )
    if scheduler not in SCHEDULERS:
        raise ModelLoadError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
    hub = HubOptions(None if cache_dir is None else str(cache_dir), local_files_only)

    # 1. The SD1.5 base.
    built_in = source in BUILT_IN
    if built_in:
        model = BUILT_IN[source](seed)
    else:
        model = load_base(source, hub, config, need_vae=vae is None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.adapter = adapter_for(model.unet).eval()

    # 2. Parts replaced or added.
    if scheduler == "live2diff":
        model.scheduler = live2diff_scheduler()
    elif built_in:
        # The built-in models stand for SD1.5: their own schedule is the shipped SD1.5 config.
        model.scheduler = LCMScheduler.from_config(
            LCMScheduler.load_config(str(SD15_ASSETS / "scheduler"))
        )
    if vae is not None:
        random_taesd = built_in and str(vae) == "taesd"
        model.vae = build_random_taesd(seed) if random_taesd else load_vae(vae, hub)
    if motion_module is True:
        motion_module = None if built_in else LIVE2DIFF_REPO
    if isinstance(motion_module, (str, Path)):
        load_motion_module(model.adapter, motion_file(motion_module, hub), unet=model.unet)
    elif not built_in:
        log.warning(
            "no motion module given: temporal layers are off, frames are styled one by one. "
            "Pass the Live2Diff checkpoint (e.g. %s) for temporally consistent video.",
            LIVE2DIFF_REPO,
        )

    # 3. LoRAs, fused into the weights: LCM-LoRA first (the base the styles were tuned on).
    loras = list(lora or ())
    if lcm_lora is True and not built_in:
        loras.insert(0, (LCM_LORA_SD15, 1.0))
    elif isinstance(lcm_lora, (str, Path)):
        loras.insert(0, (lcm_lora, 1.0))
    for index, (lora_source, scale) in enumerate(loras):
        fuse_lora(model, lora_source, scale, hub=hub, adapter_name=f"lora{index}")

    layers = model.text_encoder.config.num_hidden_layers
    if clip_skip >= layers:
        raise ModelLoadError(
            f"clip_skip {clip_skip} skips all {layers} layers of this model's text encoder; "
            f"use 0..{layers - 1} (1 = penultimate, Live2Diff's default)"
        )
    model.clip_skip = clip_skip
    model.name = source if not loras else f"{source}+{len(loras)} LoRA"
    return model
