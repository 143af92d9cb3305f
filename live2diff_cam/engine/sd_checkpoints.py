"""SD1.5 base models from their files: a diffusers folder or hub id (each part from its
subfolder, fp16-only downloads too), a single-file original-format checkpoint (LDM key names;
SDXL, SD2 and partial files refused with the reason) read with the SD1.5 configs shipped in
`assets/sd15`, and a separate VAE (AutoencoderKL or TAESD). Returns `EngineModel`s on the CPU
in float32 with a fresh motion adapter; motion modules and LoRAs are other modules' business.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, AutoencoderTiny, LCMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from live2diff_cam.engine.models import (
    SD15_ASSETS,
    EngineModel,
    adapter_for,
)
from live2diff_cam.engine.weight_files import (
    CHECKPOINT_SUFFIXES,
    HUB_ID,
    TAESD_REPO,
    HubOptions,
    download_hint,
    first_line,
    read_state_dict,
)
from live2diff_cam.errors import ModelLoadError

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."


def _classify(source: str) -> str:
    """'folder', 'file' or 'hub' for a base model source, or a ModelLoadError."""
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "file"
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or source.startswith(("/", ".", "~", "\\")):
        raise ModelLoadError(f"model file {path} does not exist; check the path")
    if HUB_ID.fullmatch(source):
        return "hub"
    raise ModelLoadError(
        f"model {source!r} is not 'tiny', 'sd15-random', a Hugging Face id ('owner/name'), a "
        "diffusers folder or a .safetensors/.ckpt file"
    )


def load_base(
    source: str, hub: HubOptions, config: str | Path | None, need_vae: bool
) -> EngineModel:
    kind = _classify(source)
    if kind == "file":
        return load_single_file(source, config=config, need_vae=need_vae)
    if kind == "folder" and not (Path(source) / "unet").is_dir():
        raise ModelLoadError(
            f"{source} is not a diffusers model folder (no unet/ subfolder); give the folder "
            "that holds model_index.json, unet/, vae/, text_encoder/, tokenizer/ and scheduler/"
        )
    return load_pretrained(source, hub)


def load_pretrained(source: str, hub: HubOptions | None = None) -> EngineModel:
    """SD1.5 parts from a diffusers folder or a hub id (each part from its subfolder)."""
    hub = hub or HubOptions(None, False)
    unet = _pretrained(UNet2DConditionModel.from_pretrained, source, "unet", hub)
    vae = _pretrained(AutoencoderKL.from_pretrained, source, "vae", hub)
    text_encoder = _pretrained(CLIPTextModel.from_pretrained, source, "text_encoder", hub)
    tokenizer = _pretrained(CLIPTokenizer.from_pretrained, source, "tokenizer", hub, weights=False)
    scheduler_config = _pretrained(LCMScheduler.load_config, source, "scheduler", hub, False)
    return _assemble(unet, vae, text_encoder, tokenizer, scheduler_config, source)


def _pretrained(
    loader: Callable[..., Any], source: str, subfolder: str, hub: HubOptions, weights: bool = True
) -> Any:
    kwargs: dict[str, Any] = dict(
        subfolder=subfolder, cache_dir=hub.cache_dir, local_files_only=hub.local_files_only
    )
    with warnings.catch_warnings():
        # diffusers 0.4x passes huggingface_hub an argument it deprecated; nothing to act on.
        warnings.filterwarnings("ignore", ".*local_dir_use_symlinks", UserWarning)
        try:
            return loader(source, **kwargs)
        except Exception as err:  # hub, file and config errors all mean "cannot load this part"
            first = err
        if weights and isinstance(first, OSError):
            # The SD1.5 download holds only the fp16 weights (`*.fp16.safetensors`).
            # A failure here is reported as the first error: fp16 files were a second guess.
            with contextlib.suppress(Exception):
                return loader(source, variant="fp16", **kwargs)
    where = (
        f"folder {source}"
        if Path(source).is_dir()
        else f"{source!r} (hub id; run {download_hint(source)} first if it is not downloaded: "
        "this machine may be offline)"
    )
    raise ModelLoadError(
        f"could not load the {subfolder or 'model'} of {where}: {first_line(first)}"
    ) from first


def _assemble(unet, vae, text_encoder, tokenizer, scheduler_config, name: str) -> EngineModel:
    for module in (unet, vae, text_encoder):
        if module.dtype != torch.float32:  # fp16 downloads; the engine casts as configured
            module.to(torch.float32)
        module.eval()
    return EngineModel(
        unet=unet,
        adapter=adapter_for(unet),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=LCMScheduler.from_config(scheduler_config),
        name=name,
    )


def load_single_file(
    path: str | Path, *, config: str | Path | None = None, need_vae: bool = True
) -> EngineModel:
    """An original-format SD1.5 checkpoint (DreamBooth), with the configs of `config`
    (a diffusers folder; default: the real SD1.5 configs shipped in `assets/sd15`)."""
    path = Path(path).expanduser()
    folder = Path(config) if config is not None else SD15_ASSETS
    state = read_state_dict(path, "SD1.5 checkpoint")
    _check_sd15_keys(path, state, need_vae)

    def single(cls, subfolder: str):
        try:
            return cls.from_single_file(
                state, config=str(folder), subfolder=subfolder, local_files_only=True
            )
        except Exception as err:  # diffusers: shape mismatches, missing keys
            raise ModelLoadError(
                f"the {subfolder} weights in {path} do not fit the SD1.5 architecture of "
                f"{folder / subfolder / 'config.json'} ({first_line(err)}); is it an SD1.5 "
                "checkpoint?"
            ) from err

    unet = single(UNet2DConditionModel, "unet")
    vae = single(AutoencoderKL, "vae") if any(k.startswith(VAE_PREFIX) for k in state) else None
    text_encoder = _text_encoder_from_ldm(path, state, folder)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    scheduler_config = LCMScheduler.load_config(str(folder / "scheduler"))
    if vae is None:
        # Only reached with need_vae=False: the caller replaces it with its own VAE.
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder / "vae")))
    return _assemble(unet, vae, text_encoder, tokenizer, scheduler_config, str(path))


def _check_sd15_keys(path: Path, state: dict[str, torch.Tensor], need_vae: bool) -> None:
    keys = state.keys()
    if any(k.startswith(("conditioner.embedders.", f"{UNET_PREFIX}label_emb.")) for k in keys):
        raise ModelLoadError(
            f"{path} is an SDXL checkpoint; Live2Diff runs on Stable Diffusion 1.5: pick an "
            "SD1.5 DreamBooth checkpoint"
        )
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        raise ModelLoadError(
            f"{path} is a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder); Live2Diff "
            "runs on SD1.5: pick an SD1.5 DreamBooth checkpoint"
        )
    if not any(k.startswith(UNET_PREFIX) for k in keys):
        sample = ", ".join(list(keys)[:3])
        raise ModelLoadError(
            f"{path} is not a single-file SD1.5 checkpoint (no model.diffusion_model.* keys; "
            f"found e.g. {sample}); LoRAs go to --lora and motion modules to --motion-module"
        )
    if not any(k.startswith(TEXT_PREFIX) for k in keys):
        raise ModelLoadError(
            f"{path} has no CLIP text encoder (cond_stage_model.transformer.*); use a full "
            "SD1.5 checkpoint or the diffusers folder of the model"
        )
    if need_vae and not any(k.startswith(VAE_PREFIX) for k in keys):
        raise ModelLoadError(
            f"{path} has no VAE (first_stage_model.*); pass a VAE with vae=... (e.g. 'taesd' "
            "or stabilityai/sd-vae-ft-mse)"
        )


def _text_encoder_from_ldm(
    path: Path, state: dict[str, torch.Tensor], folder: Path
) -> CLIPTextModel:
    config = json.loads((folder / "text_encoder" / "config.json").read_text())
    model = CLIPTextModel(CLIPTextConfig(**config))
    expected = model.state_dict()
    # SD checkpoints name CLIP's layers `text_model.*` (older ones without that level);
    # transformers 5 dropped the level from the module tree, earlier versions have it.
    level = "text_model." if next(iter(expected)).startswith("text_model.") else ""
    weights = {}
    for key, value in state.items():
        if key.startswith(TEXT_PREFIX):
            name = key[len(TEXT_PREFIX) :].removeprefix("text_model.")
            weights[level + name] = value
    weights.pop(level + "embeddings.position_ids", None)
    missing = sorted(set(expected) - set(weights))
    wrong = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or wrong:
        problems = missing[:3] + [f"{k} {tuple(weights[k].shape)}" for k in wrong[:3]]
        raise ModelLoadError(
            f"the text encoder in {path} does not fit the SD1.5 CLIP ViT-L/14 of "
            f"{folder / 'text_encoder'} ({len(missing)} missing, {len(wrong)} of another shape: "
            f"{', '.join(problems)}); is it an SD1.5 checkpoint?"
        )
    model.load_state_dict(weights, strict=False)
    return model


def load_vae(source: str | Path, hub: HubOptions | None = None) -> AutoencoderKL | AutoencoderTiny:
    """'taesd' (TAESD for SD1.5), or a hub id / folder of an AutoencoderKL or AutoencoderTiny."""
    hub = hub or HubOptions(None, False)
    source = TAESD_REPO if str(source) == "taesd" else str(source)
    config = _pretrained(AutoencoderKL.load_config, source, "", hub, weights=False)
    cls = AutoencoderTiny if config.get("_class_name") == "AutoencoderTiny" else AutoencoderKL
    vae = _pretrained(cls.from_pretrained, source, "", hub)
    return (vae if vae.dtype == torch.float32 else vae.to(torch.float32)).eval()
