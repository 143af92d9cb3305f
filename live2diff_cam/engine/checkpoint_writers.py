"""Writers of model files in the real on-disk formats the loaders read, for any `EngineModel`.

Used by tests to turn a tiny in-memory model into the files a user would hand the app: a
diffusers folder, a Hugging Face cache entry, a single-file SD checkpoint with the original
(LDM) key names, a Live2Diff motion-module checkpoint with the released key names, and a LoRA
in the older diffusers attention-processor format. Loading these back must give the same model.

Owns the diffusers -> original SD (LDM) key mapping, which diffusers ships only the other way
round. It knows nothing about how files are loaded (`loaders.py` and its parts) or what the
engine does.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from live2diff_cam.engine.models import EngineModel
from live2diff_cam.engine.motion_module import MotionAdapter

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "cond_stage_model.transformer."

# diffusers resnet sub-layer -> LDM ResBlock sub-layer (UNet).
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
# diffusers VAE attention sub-layer -> LDM AttnBlock sub-layer.
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _save(state: dict[str, torch.Tensor], path: Path, wrap: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path), metadata={"format": "pt"})
    else:
        torch.save({"state_dict": state} if wrap else state, path)


def write_diffusers_folder(model: EngineModel, folder: str | Path) -> Path:
    """Save the SD parts of `model` as a diffusers pipeline folder (no motion module)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.unet.save_pretrained(folder / "unet")
    model.vae.save_pretrained(folder / "vae")
    model.text_encoder.save_pretrained(folder / "text_encoder")
    model.tokenizer.save_pretrained(folder / "tokenizer")
    model.scheduler.save_pretrained(folder / "scheduler")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "scheduler": ["diffusers", type(model.scheduler).__name__],
        "text_encoder": ["transformers", type(model.text_encoder).__name__],
        "tokenizer": ["transformers", type(model.tokenizer).__name__],
        "unet": ["diffusers", type(model.unet).__name__],
        "vae": ["diffusers", type(model.vae).__name__],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


def hub_snapshot(cache_dir: str | Path, repo_id: str, commit: str = "0" * 40) -> Path:
    """The snapshot folder of `repo_id` in a huggingface_hub cache, created with `refs/main`.

    Layout: `models--{org}--{name}/snapshots/{commit}/...` plus `refs/main` naming the commit,
    which is what `from_pretrained(repo_id, cache_dir=..., local_files_only=True)` and
    `hf_hub_download` resolve. Files written into the snapshot look downloaded.
    """
    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def write_hub_cache(model: EngineModel, cache_dir: str | Path, repo_id: str) -> Path:
    """Lay `model` out as the downloaded hub repo `repo_id` in a huggingface_hub cache;
    returns the snapshot folder."""
    return write_diffusers_folder(model, hub_snapshot(cache_dir, repo_id))


# ----------------------------------------------------------------- diffusers -> LDM keys
def unet_to_ldm(state: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    """diffusers `UNet2DConditionModel` state dict -> original SD `model.diffusion_model.*`."""
    per_level = config.layers_per_block + 1  # LDM input blocks per level: resnets + sampler
    blocks: dict[str, str] = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
        "mid_block.attentions.0": "middle_block.1",
    }
    resnets = {"mid_block.resnets.0": "middle_block.0", "mid_block.resnets.1": "middle_block.2"}
    for i in range(len(config.block_out_channels)):
        for j in range(config.layers_per_block):
            resnets[f"down_blocks.{i}.resnets.{j}"] = f"input_blocks.{per_level * i + j + 1}.0"
            blocks[f"down_blocks.{i}.attentions.{j}"] = f"input_blocks.{per_level * i + j + 1}.1"
        blocks[f"down_blocks.{i}.downsamplers.0.conv"] = f"input_blocks.{per_level * (i + 1)}.0.op"
        for j in range(per_level):
            resnets[f"up_blocks.{i}.resnets.{j}"] = f"output_blocks.{per_level * i + j}.0"
            blocks[f"up_blocks.{i}.attentions.{j}"] = f"output_blocks.{per_level * i + j}.1"
        # The upsampler follows the last resnet (and its attention, where the level has one).
        sampler = 2 if "CrossAttn" in config.up_block_types[i] else 1
        last = per_level * i + per_level - 1
        blocks[f"up_blocks.{i}.upsamplers.0.conv"] = f"output_blocks.{last}.{sampler}.conv"
    return {
        UNET_PREFIX + _rename(key, blocks, resnets, _UNET_RESNET): value
        for key, value in state.items()
    }


def vae_to_ldm(state: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    """diffusers `AutoencoderKL` state dict -> original SD `first_stage_model.*`."""
    levels = len(config.block_out_channels)
    blocks: dict[str, str] = {
        "encoder.conv_norm_out": "encoder.norm_out",
        "decoder.conv_norm_out": "decoder.norm_out",
        "encoder.mid_block.attentions.0": "encoder.mid.attn_1",
        "decoder.mid_block.attentions.0": "decoder.mid.attn_1",
    }
    resnets: dict[str, str] = {}
    for part in ("encoder", "decoder"):
        resnets[f"{part}.mid_block.resnets.0"] = f"{part}.mid.block_1"
        resnets[f"{part}.mid_block.resnets.1"] = f"{part}.mid.block_2"
    for i in range(levels):
        for j in range(config.layers_per_block):
            resnets[f"encoder.down_blocks.{i}.resnets.{j}"] = f"encoder.down.{i}.block.{j}"
        blocks[f"encoder.down_blocks.{i}.downsamplers.0"] = f"encoder.down.{i}.downsample"
        # The LDM decoder numbers its levels from the lowest resolution up.
        for j in range(config.layers_per_block + 1):
            resnets[f"decoder.up_blocks.{i}.resnets.{j}"] = f"decoder.up.{levels - 1 - i}.block.{j}"
        blocks[f"decoder.up_blocks.{i}.upsamplers.0"] = f"decoder.up.{levels - 1 - i}.upsample"
    out = {}
    for key, value in state.items():
        new = _rename(key, blocks, resnets, {"conv_shortcut": "nin_shortcut"})
        for diffusers_name, ldm_name in _VAE_ATTENTION.items():
            head, sep, tail = new.partition(f".mid.attn_1.{diffusers_name}.")
            if sep:
                new = f"{head}.mid.attn_1.{ldm_name}.{tail}"
                if ldm_name != "norm" and tail == "weight":
                    value = value[:, :, None, None]  # LDM attention uses 1x1 convs
                break
        out[VAE_PREFIX + new] = value
    return out


def _rename(
    key: str, blocks: dict[str, str], resnets: dict[str, str], sublayers: dict[str, str]
) -> str:
    module, _, leaf = key.rpartition(".")
    # Walk up the module path to the first mapped ancestor.
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        prefix, rest = ".".join(parts[:cut]), parts[cut:]
        if prefix in resnets:
            if rest:
                rest[0] = sublayers.get(rest[0], rest[0])
            return ".".join([resnets[prefix], *rest, leaf])
        if prefix in blocks:
            return ".".join([blocks[prefix], *rest, leaf])
    return key


def write_single_file(model: EngineModel, path: str | Path) -> Path:
    """One original-format SD checkpoint: `.safetensors`, or `.ckpt` as {"state_dict": ...}."""
    path = Path(path)
    state = unet_to_ldm(model.unet.state_dict(), model.unet.config)
    state.update(vae_to_ldm(model.vae.state_dict(), model.vae.config))
    for key, value in model.text_encoder.state_dict().items():
        # SD checkpoints keep CLIP's `text_model.` level, which transformers 5 no longer has.
        state[TEXT_ENCODER_PREFIX + "text_model." + key.removeprefix("text_model.")] = value
    _save(state, path, wrap=True)
    return path


# ----------------------------------------------------------------- Live2Diff and LoRA
def write_motion_module_checkpoint(
    adapter: MotionAdapter,
    path: str | Path,
    *,
    wrap_state_dict: bool = True,
    module_prefix: bool = True,
) -> Path:
    """The adapter's weights as the released `live2diff.ckpt` lays them out.

    Key names are the adapter's own (the released ones); like the original, each temporal
    attention also stores its position table as `...pos_encoder.pe` (1, length, C), which a
    loader must drop. Optionally with DataParallel's `module.` prefix and a `state_dict` wrapper.
    """
    path = Path(path)
    state = dict(adapter.state_dict())
    for name, module in adapter.named_modules():
        pe = getattr(module, "pe", None)
        if isinstance(pe, torch.Tensor):
            state[f"{name}.pos_encoder.pe"] = pe[None].clone()
    if module_prefix:
        state = {f"module.{k}": v for k, v in state.items()}
    if path.suffix == ".safetensors":
        _save(state, path)
    else:
        _save(state, path, wrap=wrap_state_dict)
    return path


def write_lora(model: EngineModel, path: str | Path, rank: int = 4, seed: int = 0) -> Path:
    """A random LoRA for every UNet attention projection, in the older diffusers
    attention-processor format (`...attn1.processor.to_q_lora.down.weight`, no prefix)."""
    path = Path(path)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, module in model.unet.named_modules():
        if not name.endswith((".attn1", ".attn2")):
            continue
        for short, layer in (
            ("to_q", module.to_q),
            ("to_k", module.to_k),
            ("to_v", module.to_v),
            ("to_out", module.to_out[0]),
        ):
            down = torch.randn((rank, layer.in_features), generator=generator) * 0.1
            up = torch.randn((layer.out_features, rank), generator=generator) * 0.1
            state[f"{name}.processor.{short}_lora.down.weight"] = down
            state[f"{name}.processor.{short}_lora.up.weight"] = up
    _save(state, path)
    return path


def write_kohya_lora(
    model: EngineModel, path: str | Path, rank: int = 4, alpha: float = 2.0, seed: int = 0
) -> Path:
    """A random LoRA in kohya-ss format (`lora_unet_*`, `lora_te_*`, `.alpha` per layer), the
    common format of community SD1.5 LoRAs: UNet self-attention q/k and every text-encoder
    attention projection."""
    path = Path(path)
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for name, module in model.unet.named_modules():
        if name.endswith(".attn1"):
            layers += [("lora_unet", f"{name}.{p}", getattr(module, p)) for p in ("to_q", "to_k")]
    for name, module in model.text_encoder.named_modules():
        if name.endswith(".self_attn"):
            projections = ("q_proj", "k_proj", "v_proj", "out_proj")
            # kohya names CLIP's layers with the `text_model` level of older transformers.
            name = "text_model." + name.removeprefix("text_model.")
            layers += [("lora_te", f"{name}.{p}", getattr(module, p)) for p in projections]
    state = {}
    for prefix, name, layer in layers:
        key = f"{prefix}_{name.replace('.', '_')}"
        state[f"{key}.lora_down.weight"] = torch.randn(
            (rank, layer.in_features), generator=generator
        )
        state[f"{key}.lora_up.weight"] = torch.randn(
            (layer.out_features, rank), generator=generator
        )
        state[f"{key}.alpha"] = torch.tensor(alpha)
    _save(state, path)
    return path
