"""LoRAs fused into a model's UNet and text encoder through diffusers' LoRA loading (needs
`peft`): a file, a folder holding one, or a hub id; the diffusers, PEFT and kohya formats and the
older diffusers attention-processor files. Every layer a LoRA file names must match a layer of
the model, or fusing fails with a `ModelLoadError`. Knows nothing of base-model or motion files.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from live2diff_cam.engine.load_errors import shape_mismatch
from live2diff_cam.engine.models import (
    EngineModel,
)
from live2diff_cam.engine.weight_files import (
    CHECKPOINT_SUFFIXES,
    HUB_ID,
    LORA_FILE,
    HubOptions,
    first_line,
    hub_file,
    read_state_dict,
)
from live2diff_cam.errors import ModelLoadError

log = logging.getLogger(__name__)


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
    if HUB_ID.fullmatch(str(source)):
        return hub_file(str(source), LORA_FILE, hub, "LoRA")
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
        problem = shape_mismatch(err) or first_line(err)
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
