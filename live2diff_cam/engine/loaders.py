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
        vae=None,                           # None: the model's own; "taesd"; hub id/folder of an
                                            # AutoencoderKL or AutoencoderTiny
        clip_skip=1, seed=0,
        local_files_only=False, cache_dir=None,
        config=None,                        # diffusers folder with the configs of a single file
    ) -> EngineModel

Per source kind:
* `tiny`, `sd15-random`: built in code with random weights (`models.py`); no LCM-LoRA by default,
  but a motion module and LoRAs given here are still loaded into them.
* hub id (`stable-diffusion-v1-5/stable-diffusion-v1-5`) or local diffusers folder: every part
  through its `from_pretrained(source, subfolder=...)` (fp16-only downloads are found too), the
  scheduler as `LCMScheduler.from_config`. Hub ids resolve through the ordinary Hugging Face
  cache, so `live2diff-cam download` fills it ahead of time.
* single file: an original-format SD1.5 checkpoint (`model.diffusion_model.*`,
  `first_stage_model.*`, `cond_stage_model.transformer.*`) through diffusers' single-file
  loading, with the SD1.5 configs shipped in `assets/sd15` (or `config`), fully offline.

Motion modules: the released Live2Diff checkpoint's keys are mapped onto `MotionAdapter`
(`state_dict`/`module.` wrappers removed, position tables and `grid` buffers dropped, spatial
UNet keys routed to the UNet); a missing adapter weight is an error, an unknown key a warning.
Without a motion module the adapter keeps its zero-initialised outputs: plain per-frame SD1.5.

LoRAs are fused into the weights through diffusers' LoRA loading (needs `peft`); the older
diffusers attention-processor files (`...attn1.processor.to_q_lora.down.weight`) are accepted
too. Every layer a LoRA file names must match a layer of the model, or loading fails.

Every failure is a `ModelLoadError` naming the file or id, what was expected, and what to do.
Modules come back on the CPU in float32; the engine moves and casts them. This module knows
nothing about frames, devices or the streaming engine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, AutoencoderTiny, LCMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from live2diff_cam.engine.load_errors import pickle_warning, shape_mismatch
from live2diff_cam.engine.models import (
    SD15_ASSETS,
    EngineModel,
    adapter_for,
    build_sd15_random,
    build_tiny,
)
from live2diff_cam.engine.motion_module import MotionAdapter
from live2diff_cam.engine.weights_check import check_finite
from live2diff_cam.errors import ModelLoadError

log = logging.getLogger(__name__)

BUILT_IN: dict[str, Callable[[int], EngineModel]] = {
    "tiny": build_tiny,
    "sd15-random": build_sd15_random,
}
LCM_LORA_SD15 = "latent-consistency/lcm-lora-sdv1-5"
LIVE2DIFF_REPO = "Leoxing/Live2Diff"
LIVE2DIFF_FILE = "live2diff.ckpt"
TAESD_REPO = "madebyollin/taesd"
LORA_FILE = "pytorch_lora_weights.safetensors"
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")

# Short names of `live2diff-cam download` for the hub ids the app knows.
_DOWNLOAD_NAMES = {
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "sd15",
    LCM_LORA_SD15: "lcm-lora",
    LIVE2DIFF_REPO: "live2diff",
    TAESD_REPO: "taesd",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_UNET_PREFIX = "model.diffusion_model."
_VAE_PREFIX = "first_stage_model."
_TEXT_PREFIX = "cond_stage_model.transformer."


@dataclass(frozen=True)
class HubOptions:
    """Where hub ids are looked up: the cache folder (None: HF default) and whether to stay
    offline."""

    cache_dir: str | None
    local_files_only: bool


def load_model(
    source: str,
    *,
    motion_module: str | Path | bool | None = True,
    lora: Sequence[tuple[str | Path, float]] | None = (),
    lcm_lora: str | Path | bool | None = True,
    vae: str | Path | None = None,
    clip_skip: int = 1,
    seed: int = 0,
    local_files_only: bool = False,
    cache_dir: str | Path | None = None,
    config: str | Path | None = None,
) -> EngineModel:
    """Build the `EngineModel` for `source` with its extras; see the module docstring."""
    if clip_skip < 1:
        raise ModelLoadError(
            f"clip_skip must be 1 or more (2 = penultimate layer), got {clip_skip}"
        )
    hub = HubOptions(None if cache_dir is None else str(cache_dir), local_files_only)

    # 1. The SD1.5 base.
    built_in = source in BUILT_IN
    if built_in:
        model = BUILT_IN[source](seed)
    else:
        model = _load_base(source, hub, config, need_vae=vae is None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.adapter = adapter_for(model.unet).eval()

    # 2. Parts replaced or added.
    if vae is not None:
        model.vae = load_vae(vae, hub)
    if motion_module is True:
        motion_module = None if built_in else LIVE2DIFF_REPO
    if motion_module not in (None, False):
        load_motion_module(model.adapter, _motion_file(motion_module, hub), unet=model.unet)
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
    elif lcm_lora not in (True, False, None):
        loras.insert(0, (lcm_lora, 1.0))
    for index, (lora_source, scale) in enumerate(loras):
        fuse_lora(model, lora_source, scale, hub=hub, adapter_name=f"lora{index}")

    model.clip_skip = clip_skip
    model.name = source if not loras else f"{source}+{len(loras)} LoRA"
    return model


# ----------------------------------------------------------------- reading files
def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """Tensors of a `.safetensors` file or a `torch.load`-able checkpoint (weights only, safe).

    A `{"state_dict": {...}}` wrapper is removed. Raises `ModelLoadError` naming `path` and `what`
    it should have been for a missing, corrupt, truncated or non-tensor file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(
            f"{what} file {path} does not exist" + (" (it is a folder)" if path.is_dir() else "")
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except Exception as err:  # safetensors raises its own and OS errors
            raise ModelLoadError(
                f"{path} is not a readable .safetensors {what} file ({_first_line(err)}); it is "
                "corrupt or was not fully downloaded: download it again"
            ) from err
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            # A real checkpoint that pickles classes fails on a global; noise on an opcode.
            if "Unsupported global" in str(err):
                raise ModelLoadError(
                    f"{path} holds Python objects besides tensors, so it was not loaded. PyTorch "
                    f"warns: {pickle_warning(err)} A weights_only=False retry is not offered: "
                    f"it would run that code. Convert the {what} to .safetensors on a machine "
                    "you trust and load that"
                ) from err
            raise ModelLoadError(
                f"{path} is not a PyTorch checkpoint ({_first_line(err)}); expected a {what} "
                "file (.safetensors or .ckpt): download it again"
            ) from err
        except Exception as err:  # zipfile, EOF and runtime errors of a broken file
            raise ModelLoadError(
                f"{path} is not a readable PyTorch checkpoint ({_first_line(err)}); it is "
                f"corrupt or truncated: download the {what} again"
            ) from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelLoadError(f"{path} holds no tensor dictionary; expected a {what} file")
    return check_finite(state, path)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def _download_hint(repo_id: str) -> str:
    return f"`live2diff-cam download {_DOWNLOAD_NAMES.get(repo_id, repo_id)}`"


def _hub_file(repo_id: str, filename: str, hub: HubOptions, what: str) -> Path:
    """A file of a hub repo from the cache (downloading it unless `local_files_only`)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                cache_dir=hub.cache_dir,
                local_files_only=hub.local_files_only,
            )
        )
    except Exception as err:  # offline, not cached, no such repo/file, bad id
        raise ModelLoadError(
            f"the {what} {repo_id!r} ({filename}) is not in the Hugging Face cache and could not "
            f"be downloaded ({_first_line(err)}); run {_download_hint(repo_id)} on a machine with "
            "internet access (or copy the file and pass its path)"
        ) from err


def _classify(source: str) -> str:
    """'folder', 'file' or 'hub' for a base model source, or a ModelLoadError."""
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "file"
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or source.startswith(("/", ".", "~", "\\")):
        raise ModelLoadError(f"model file {path} does not exist; check the path")
    if _HUB_ID.fullmatch(source):
        return "hub"
    raise ModelLoadError(
        f"model {source!r} is not 'tiny', 'sd15-random', a Hugging Face id ('owner/name'), a "
        "diffusers folder or a .safetensors/.ckpt file"
    )


# ----------------------------------------------------------------- base models
def _load_base(
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
        else f"{source!r} (hub id; run {_download_hint(source)} first if it is not downloaded: "
        "this machine may be offline)"
    )
    raise ModelLoadError(
        f"could not load the {subfolder or 'model'} of {where}: {_first_line(first)}"
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
                f"{folder / subfolder / 'config.json'} ({_first_line(err)}); is it an SD1.5 "
                "checkpoint?"
            ) from err

    unet = single(UNet2DConditionModel, "unet")
    vae = single(AutoencoderKL, "vae") if any(k.startswith(_VAE_PREFIX) for k in state) else None
    text_encoder = _text_encoder_from_ldm(path, state, folder)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    scheduler_config = LCMScheduler.load_config(str(folder / "scheduler"))
    if vae is None:
        # Only reached with need_vae=False: the caller replaces it with its own VAE.
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder / "vae")))
    return _assemble(unet, vae, text_encoder, tokenizer, scheduler_config, str(path))


def _check_sd15_keys(path: Path, state: dict[str, torch.Tensor], need_vae: bool) -> None:
    keys = state.keys()
    if any(k.startswith(("conditioner.embedders.", f"{_UNET_PREFIX}label_emb.")) for k in keys):
        raise ModelLoadError(
            f"{path} is an SDXL checkpoint; Live2Diff runs on Stable Diffusion 1.5: pick an "
            "SD1.5 DreamBooth checkpoint"
        )
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        raise ModelLoadError(
            f"{path} is a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder); Live2Diff "
            "runs on SD1.5: pick an SD1.5 DreamBooth checkpoint"
        )
    if not any(k.startswith(_UNET_PREFIX) for k in keys):
        sample = ", ".join(list(keys)[:3])
        raise ModelLoadError(
            f"{path} is not a single-file SD1.5 checkpoint (no model.diffusion_model.* keys; "
            f"found e.g. {sample}); LoRAs go to --lora and motion modules to --motion-module"
        )
    if not any(k.startswith(_TEXT_PREFIX) for k in keys):
        raise ModelLoadError(
            f"{path} has no CLIP text encoder (cond_stage_model.transformer.*); use a full "
            "SD1.5 checkpoint or the diffusers folder of the model"
        )
    if need_vae and not any(k.startswith(_VAE_PREFIX) for k in keys):
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
        if key.startswith(_TEXT_PREFIX):
            name = key[len(_TEXT_PREFIX) :].removeprefix("text_model.")
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


# ----------------------------------------------------------------- motion modules
@dataclass(frozen=True)
class MotionLoadReport:
    """What `load_motion_module` did with each key of the checkpoint."""

    path: Path
    adapter_keys: int  # motion-module and depth-network tensors loaded
    unet_keys: int  # spatial UNet tensors the checkpoint also carried
    dropped: tuple[str, ...]  # recomputed buffers (position tables, grids)
    unexpected: tuple[str, ...]


def _motion_file(source: str | Path, hub: HubOptions) -> Path:
    path = Path(source).expanduser()
    if path.exists() or not _HUB_ID.fullmatch(str(source)):
        return path
    return _hub_file(str(source), LIVE2DIFF_FILE, hub, "Live2Diff motion module")


def load_motion_module(
    adapter: MotionAdapter, path: str | Path, unet: UNet2DConditionModel | None = None
) -> MotionLoadReport:
    """Load a released Live2Diff checkpoint (`live2diff.ckpt`) into `adapter` (and `unet`).

    Raises `ModelLoadError` if any adapter weight is missing or has another shape, or if the
    file matches no adapter key at all; keys it cannot place are logged as warnings.
    """
    path = Path(path).expanduser()
    state = read_state_dict(path, "Live2Diff motion-module")
    own = adapter.state_dict()
    unet_own = unet.state_dict() if unet is not None else {}
    to_adapter: dict[str, torch.Tensor] = {}
    to_unet: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    unexpected: list[str] = []
    for raw_key, value in state.items():
        key = raw_key.removeprefix("module.")
        if "grid" in key or key.endswith(".pe"):
            dropped.append(key)  # sinusoid tables and grids: recomputed, not learned
        elif key in own:
            to_adapter[key] = value
        elif key in unet_own:
            to_unet[key] = value
        else:
            unexpected.append(key)
    if not to_adapter:
        sample = ", ".join(list(state)[:3])
        raise ModelLoadError(
            f"{path} does not look like a Live2Diff motion-module checkpoint: none of its "
            f"{len(state)} keys (e.g. {sample}) is a motion-module key such as "
            "down_blocks.0.motion_modules.0.temporal_transformer.proj_in.weight"
        )
    missing = [k for k in own if k not in to_adapter]
    if missing:
        raise ModelLoadError(
            f"{path} lacks {len(missing)} of the {len(own)} motion-module weights this model "
            f"needs (first: {', '.join(missing[:5])}); it is incomplete or for another "
            "architecture: use the released live2diff.ckpt"
        )
    for target, own_state in ((to_adapter, own), (to_unet, unet_own)):
        wrong = [k for k, v in target.items() if v.shape != own_state[k].shape]
        if wrong:
            first = wrong[0]
            raise ModelLoadError(
                f"{path}: {len(wrong)} weights have another shape than this model's (first: "
                f"{first} {tuple(target[first].shape)} vs {tuple(own_state[first].shape)}); the "
                "motion module is for another base architecture (Live2Diff needs SD1.5)"
            )
    adapter.load_state_dict(to_adapter, strict=True)
    if to_unet and unet is not None:
        unet.load_state_dict(to_unet, strict=False)
    if unexpected:
        log.warning(
            "%s: %d keys fit no part of the model and were ignored (first: %s)",
            path,
            len(unexpected),
            ", ".join(unexpected[:5]),
        )
    return MotionLoadReport(path, len(to_adapter), len(to_unet), tuple(dropped), tuple(unexpected))


# ----------------------------------------------------------------- LoRA
def lora_file(source: str | Path, hub: HubOptions | None = None) -> Path:
    """The weights file of a LoRA given as a file, a folder holding it, or a hub id."""
    hub = hub or HubOptions(None, False)
    path = Path(source).expanduser()
    if path.is_dir():
        candidates = [path / LORA_FILE] if (path / LORA_FILE).is_file() else []
        candidates = candidates or sorted(path.glob("*.safetensors"))
        if len(candidates) != 1:
            raise ModelLoadError(
                f"LoRA folder {path} should hold {LORA_FILE} or exactly one .safetensors file"
            )
        return candidates[0]
    if path.exists() or path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return path
    if _HUB_ID.fullmatch(str(source)):
        return _hub_file(str(source), LORA_FILE, hub, "LoRA")
    raise ModelLoadError(f"LoRA {source!r} is neither a file, a folder nor a hub id")


def _lora_state(path: Path) -> dict[str, torch.Tensor]:
    state = read_state_dict(path, "LoRA")
    if not any("lora" in k or k.endswith(".alpha") for k in state):
        raise ModelLoadError(
            f"{path} is not a LoRA file (no lora weights among keys such as "
            f"{', '.join(list(state)[:3])})"
        )
    if any(k.startswith(("lora_te2_", "text_encoder_2.")) or "add_k_proj" in k for k in state):
        raise ModelLoadError(f"{path} is an SDXL LoRA; Live2Diff runs on SD1.5: use an SD1.5 LoRA")
    # Older diffusers files name UNet layers without the component prefix the loader expects.
    if any(k.startswith(("down_blocks.", "mid_block.", "up_blocks.")) for k in state):
        state = {
            f"unet.{k}" if k.startswith(("down_blocks.", "mid_block.", "up_blocks.")) else k: v
            for k, v in state.items()
        }
    return state


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _lora_layer_count(state: dict[str, torch.Tensor]) -> int:
    # One "down" (A) matrix per adapted layer, whatever the naming scheme.
    return sum(k.endswith(("down.weight", "lora_A.weight")) for k in state)


def _adapted_layers(model: EngineModel, adapter_name: str) -> int:
    count = 0
    for module in (model.unet, model.text_encoder):
        for layer in module.modules():
            lora_a = getattr(layer, "lora_A", None)
            if isinstance(lora_a, torch.nn.ModuleDict) and adapter_name in lora_a:
                count += 1
    return count


def fuse_lora(
    model: EngineModel,
    source: str | Path,
    scale: float = 1.0,
    *,
    hub: HubOptions | None = None,
    adapter_name: str = "lora",
) -> int:
    """Fuse a LoRA into `model`'s UNet/text encoder at `scale`; returns the layers changed.

    Every layer the file names must exist in the model with the right shape. Afterwards the
    modules are plain again (no LoRA wrappers): W' = W + scale * up @ down * alpha / rank.
    """
    with _quiet("transformers.utils.import_utils"):
        # Importing the pipeline module logs about torchvision, which no part here uses.
        from diffusers import StableDiffusionPipeline

    path = lora_file(source, hub)
    state = _lora_state(path)
    expected = _lora_layer_count(state)
    with warnings.catch_warnings():
        # The SD1.5 scheduler config trips a deprecation notice of a pipeline we only borrow.
        warnings.simplefilter("ignore", FutureWarning)
        pipe = StableDiffusionPipeline(
            vae=model.vae,
            text_encoder=model.text_encoder,
            tokenizer=model.tokenizer,
            unet=model.unet,
            scheduler=model.scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    try:
        # diffusers logs about components without LoRA keys; the layer count below is the check.
        with _quiet("diffusers.loaders.lora_base"):
            pipe.load_lora_weights(state, adapter_name=adapter_name)
    except Exception as err:  # diffusers/peft: unknown layers, shape mismatches, no peft
        pipe.unload_lora_weights()
        hint = (
            "install peft (pip install 'peft>=0.13')"
            if "PEFT" in str(err)
            else ("is it an SD1.5 LoRA?")
        )
        problem = shape_mismatch(err) or _first_line(err)
        raise ModelLoadError(f"LoRA {path} does not fit this model ({problem}); {hint}") from err
    adapted = _adapted_layers(model, adapter_name)
    if adapted != expected or adapted == 0:
        pipe.unload_lora_weights()
        raise ModelLoadError(
            f"LoRA {path}: only {adapted} of its {expected} layers match a layer of this model; "
            "it is for another architecture or uses an unknown key format (SD1.5 LoRAs in "
            "diffusers, PEFT or kohya format are supported)"
        )
    pipe.fuse_lora(
        components=["unet", "text_encoder"], lora_scale=scale, adapter_names=[adapter_name]
    )
    pipe.unload_lora_weights()
    log.info("fused LoRA %s at scale %.2f into %d layers", path, scale, adapted)
    return adapted
