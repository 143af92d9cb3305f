"""Loaders: tiny checkpoints written in every real format load back into the same model.

Each format (diffusers folder, hub id from a cache, single-file .safetensors/.ckpt with the
original SD key names, released Live2Diff motion-module key names, old-format LoRA) is written
from an in-memory tiny model, loaded with `load_model`, and run through `StreamEngine`: the
frames must equal those of the model it was written from. Broken inputs give `ModelLoadError`s
that name the file and the reason.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from live2diff_cam.engine import EngineConfig, StreamEngine
from live2diff_cam.engine import checkpoint_writers as writers
from live2diff_cam.engine.loaders import load_model
from live2diff_cam.engine.models import EngineModel, adapter_for, build_tiny
from live2diff_cam.engine.motion_loader import load_motion_module
from live2diff_cam.engine.motion_module import MotionAdapter
from live2diff_cam.errors import ModelLoadError
from tests.engine.conftest import run_stream

SEED = 3
REPO_ID = "tiny-org/tiny-sd15"
OFFLINE = dict(local_files_only=True, lcm_lora=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Two cores shared with other test processes: oversubscribed torch threads make the tiny
    # engine 10x slower, one thread keeps it steady.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference() -> EngineModel:
    return build_tiny(SEED)


@pytest.fixture(scope="module")
def files(reference: EngineModel, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "folder": writers.write_diffusers_folder(reference, root / "tiny"),
        "cache": writers.write_hub_cache(reference, root / "hub", REPO_ID).parents[2],
        "safetensors": writers.write_single_file(reference, root / "dreambooth.safetensors"),
        "ckpt": writers.write_single_file(reference, root / "dreambooth.ckpt"),
        "motion": writers.write_motion_module_checkpoint(
            reference.adapter, root / "live2diff.ckpt"
        ),
        "motion_plain": writers.write_motion_module_checkpoint(
            reference.adapter, root / "motion.safetensors", module_prefix=False
        ),
        "lora": writers.write_lora(reference, root / "style_lora.safetensors", rank=4, seed=1),
        "root": root,
    }


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)


def run(model: EngineModel, frames: np.ndarray) -> np.ndarray:
    engine = StreamEngine(EngineConfig(height=32, width=32, steps=2), model)
    return np.stack(run_stream(engine, frames))


@pytest.fixture(scope="module")
def reference_frames(frames: np.ndarray) -> np.ndarray:
    # A fresh copy: the engine moves and casts the modules it is given.
    return run(build_tiny(SEED), frames)


def assert_same_frames(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape == (10, 32, 32, 3)
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1


def assert_same_weights(module: torch.nn.Module, expected: torch.nn.Module) -> None:
    got, want = module.state_dict(), expected.state_dict()
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


# ----------------------------------------------------------------- round trips
@pytest.mark.parametrize("kind", ["folder", "hub", "safetensors", "ckpt"])
def test_every_format_gives_the_frames_of_the_model_it_was_written_from(
    kind, files, frames, reference, reference_frames
):
    if kind == "folder":
        model = load_model(str(files["folder"]), motion_module=files["motion"], **OFFLINE)
    elif kind == "hub":
        model = load_model(
            REPO_ID, motion_module=files["motion"], cache_dir=files["cache"], **OFFLINE
        )
    else:
        model = load_model(
            str(files[kind]), motion_module=files["motion"], config=files["folder"], **OFFLINE
        )
    for part in ("unet", "adapter", "vae", "text_encoder"):
        assert_same_weights(getattr(model, part), getattr(reference, part))
    # Live2Diff's own linear betas, whatever schedule the files carry.
    assert model.scheduler.config.beta_schedule == "linear"
    assert model.scheduler.config.num_train_timesteps == 1000
    assert model.tokenizer("a photo of a cat").input_ids == [
        49406,
        320,
        1125,
        539,
        320,
        2368,
        49407,
    ]
    assert_same_frames(run(model, frames), reference_frames)


def test_single_file_uses_the_original_sd_key_names(files, reference):
    keys = load_file(files["safetensors"]).keys()
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight" in keys
    last = reference.unet.config.layers_per_block  # the level-0 upsampler follows it
    assert f"model.diffusion_model.output_blocks.{last}.1.conv.weight" in keys
    assert "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight" in keys
    assert "first_stage_model.encoder.mid.attn_1.q.weight" in keys
    assert "cond_stage_model.transformer.text_model.final_layer_norm.weight" in keys
    assert not any(".resnets." in k or "down_blocks" in k for k in keys)
    n_parts = sum(len(getattr(reference, p).state_dict()) for p in ("unet", "vae", "text_encoder"))
    assert len(keys) == n_parts
    ckpt = torch.load(files["ckpt"], map_location="cpu", weights_only=True)
    assert set(ckpt) == {"state_dict"} and ckpt["state_dict"].keys() == keys


def test_built_in_model_takes_a_motion_module_and_clip_skip(files, reference):
    model = load_model("tiny", seed=SEED + 1, motion_module=files["motion_plain"], clip_skip=0)
    assert_same_weights(model.adapter, reference.adapter)
    assert model.clip_skip == 0
    # The base stays the seed's own: only the motion module came from the file.
    assert not torch.equal(model.unet.conv_in.weight, reference.unet.conv_in.weight)


def test_lora_is_fused_like_the_hand_computed_update(files, frames):
    scale = 0.6
    model = load_model("tiny", seed=SEED, lora=[(files["lora"], scale)])
    by_hand = build_tiny(SEED)
    lora = load_file(files["lora"])
    layers = 0
    for key, down in lora.items():
        if not key.endswith("_lora.down.weight"):
            continue
        module_path, _, projection = key.removesuffix("_lora.down.weight").rpartition(".processor.")
        name = f"{module_path}.{projection}" + (".0" if projection == "to_out" else "")
        layer = by_hand.unet.get_submodule(name)
        with torch.no_grad():
            layer.weight += scale * lora[key.replace(".down.", ".up.")] @ down
        layers += 1
    attentions = [n for n, _ in by_hand.unet.named_modules() if n.endswith((".attn1", ".attn2"))]
    assert layers == len(lora) // 2 == 4 * len(attentions) > 0  # q, k, v, out of each
    got, want = model.unet.state_dict(), by_hand.unet.state_dict()
    assert sorted(got) == sorted(want)  # plain modules again, no LoRA wrappers left
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6, msg=key)
    assert_same_frames(run(model, frames), run(by_hand, frames))


def test_kohya_lora_with_alpha_reaches_unet_and_text_encoder(tmp_path, reference):
    rank, alpha, scale = 4, 2.0, 0.5
    path = writers.write_kohya_lora(reference, tmp_path / "kohya.safetensors", rank, alpha)
    lora = load_file(path)
    model = load_model("tiny", seed=SEED, lora=[(path, scale)])
    checks = {
        "unet": ("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k", "lora_unet_"),
        "text_encoder": ("encoder.layers.1.self_attn.out_proj", "lora_te_text_model_"),
    }
    for part, (name, prefix) in checks.items():
        key = prefix + name.replace(".", "_")
        delta = lora[f"{key}.lora_up.weight"] @ lora[f"{key}.lora_down.weight"]
        want = getattr(reference, part).get_submodule(name).weight + scale * alpha / rank * delta
        got = getattr(model, part).get_submodule(name).weight
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    changed = [
        k
        for k, v in model.text_encoder.state_dict().items()
        if not torch.equal(v, reference.text_encoder.state_dict()[k])
    ]
    assert len(changed) == 4 * reference.text_encoder.config.num_hidden_layers


def test_real_base_fuses_the_lcm_lora_from_the_cache(files, reference):
    # The hub-id LCM-LoRA resolves through the same cache as the base (as after `download`).
    snapshot = writers.hub_snapshot(files["cache"], "latent-consistency/lcm-lora-sdv1-5")
    lora_path = writers.write_lora(reference, snapshot / "pytorch_lora_weights.safetensors", seed=7)
    lora = load_file(lora_path)
    try:
        model = load_model(
            REPO_ID, motion_module=False, cache_dir=files["cache"], local_files_only=True
        )
    finally:
        lora_path.unlink()
    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    key = f"{name.rpartition('.')[0]}.processor.to_q_lora"
    fused = reference.unet.get_submodule(name).weight + (
        lora[f"{key}.up.weight"] @ lora[f"{key}.down.weight"]
    )
    torch.testing.assert_close(model.unet.get_submodule(name).weight, fused, rtol=0, atol=1e-6)
    assert torch.equal(model.unet.conv_in.weight, reference.unet.conv_in.weight)
    assert model.name.endswith("+1 LoRA")


# ----------------------------------------------------------------- motion modules
def test_motion_checkpoint_drops_position_tables_and_strips_wrappers(files, reference):
    raw = torch.load(files["motion"], map_location="cpu", weights_only=True)["state_dict"]
    assert all(k.startswith("module.") for k in raw)
    assert "module.down_blocks.0.motion_modules.0.temporal_transformer.proj_in.weight" in raw
    assert "module.flow_conv_in.conv_out.bias" in raw
    adapter = adapter_for(reference.unet)
    report = load_motion_module(adapter, files["motion"])
    attention_layers = len(list(reference.adapter.attention_layers()))
    assert len(report.dropped) == attention_layers and all(
        k.endswith(".pos_encoder.pe") for k in report.dropped
    )
    assert report.adapter_keys == len(reference.adapter.state_dict())
    assert report.unexpected == () and report.unet_keys == 0
    assert_same_weights(adapter, reference.adapter)


def test_motion_checkpoint_missing_a_weight_is_refused_with_its_name(files, reference, tmp_path):
    state = load_file(files["motion_plain"])
    gone = "up_blocks.1.motion_modules.1.temporal_transformer.proj_out.weight"
    del state[gone]
    save_file(state, tmp_path / "cut.safetensors")
    with pytest.raises(ModelLoadError, match="lacks 1 of the") as info:
        load_model("tiny", motion_module=tmp_path / "cut.safetensors")
    assert gone in str(info.value) and "cut.safetensors" in str(info.value)


def test_motion_checkpoint_routes_unet_keys_and_warns_on_unknown(files, tmp_path, caplog):
    state = load_file(files["motion_plain"])
    unet_key = "down_blocks.0.resnets.0.conv1.bias"
    state[unet_key] = torch.full((32,), 0.25)
    state["mid_block.motion_modules.0.temporal_transformer.proj_in.weight"] = torch.zeros(2, 2)
    state["down_blocks.0.motion_modules.0.temporal_transformer.grid"] = torch.zeros(3)
    torch.save({"state_dict": state}, tmp_path / "extra.ckpt")
    model = build_tiny(SEED)
    with caplog.at_level(logging.WARNING, logger="live2diff_cam.engine.loaders"):
        report = load_motion_module(model.adapter, tmp_path / "extra.ckpt", unet=model.unet)
    assert report.unet_keys == 1
    assert "down_blocks.0.motion_modules.0.temporal_transformer.grid" in report.dropped
    assert torch.equal(model.unet.down_blocks[0].resnets[0].conv1.bias, torch.full((32,), 0.25))
    assert report.unexpected == ("mid_block.motion_modules.0.temporal_transformer.proj_in.weight",)
    assert "1 keys fit no part of the model" in caplog.text and "mid_block" in caplog.text


def test_not_a_motion_checkpoint(files):
    with pytest.raises(ModelLoadError, match="does not look like a Live2Diff motion-module"):
        load_model("tiny", motion_module=files["safetensors"])


def test_motion_checkpoint_for_other_channels_is_refused(tmp_path):
    other = MotionAdapter((64, 128), 2)
    writers.write_motion_module_checkpoint(other, tmp_path / "big.ckpt")
    with pytest.raises(ModelLoadError, match="another shape"):
        load_model("tiny", motion_module=tmp_path / "big.ckpt")


# ----------------------------------------------------------------- clear errors
def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_broken_base_files_give_clear_errors(files, tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    whole = files["safetensors"].read_bytes()
    sdxl = {
        "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": torch.ones(4),
        "model.diffusion_model.label_emb.0.0.weight": torch.ones(4, 4),
    }
    save_file(sdxl, tmp_path / "sdxl.safetensors")
    cases = {
        str(tmp_path / "absent.safetensors"): "does not exist",
        str(_write(tmp_path / "noise.safetensors", noise)): "not a readable .safetensors",
        str(_write(tmp_path / "noise.ckpt", noise)): "is not a PyTorch checkpoint",
        str(_write(tmp_path / "cut.safetensors", whole[: len(whole) // 2])): "download it again",
        str(tmp_path / "sdxl.safetensors"): "SDXL checkpoint",
        str(files["lora"]): "not a single-file SD1.5 checkpoint",
    }
    for source, reason in cases.items():
        with pytest.raises(ModelLoadError, match=reason) as info:
            load_model(source, config=files["folder"], **OFFLINE)
        assert Path(source).name in str(info.value)


def test_single_file_for_another_architecture_names_the_config(files):
    # A real SD1.5 checkpoint is read with the shipped SD1.5 configs; the tiny one does not fit.
    with pytest.raises(ModelLoadError, match=r"do not fit the SD1\.5 architecture") as info:
        load_model(str(files["safetensors"]), **OFFLINE)
    assert "unet" in str(info.value) and "dreambooth.safetensors" in str(info.value)


def test_sources_that_are_not_models(tmp_path):
    with pytest.raises(ModelLoadError, match="is not 'tiny', 'sd15-random'"):
        load_model("no such model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a diffusers model folder"):
        load_model(str(tmp_path / "empty"), **OFFLINE)
    with pytest.raises(ModelLoadError, match="clip_skip must be 0 or more"):
        load_model("tiny", clip_skip=-1)
    with pytest.raises(ModelLoadError, match=r"clip_skip 2 skips all 2 layers.*use 0\.\.1"):
        load_model("tiny", clip_skip=2)
    with pytest.raises(ModelLoadError, match="scheduler must be one of live2diff, model"):
        load_model("tiny", scheduler="ddim")


def test_missing_downloads_say_how_to_get_them(files, tmp_path):
    hub = dict(cache_dir=tmp_path / "empty-cache", local_files_only=True)
    with pytest.raises(ModelLoadError, match="live2diff-cam download org/absent"):
        load_model("org/absent", lcm_lora=False, **hub)
    with pytest.raises(ModelLoadError, match="live2diff-cam download lcm-lora"):
        load_model(str(files["folder"]), motion_module=False, **hub)
    # A real base loads the released motion module unless told otherwise.
    with pytest.raises(ModelLoadError, match="live2diff-cam download live2diff"):
        load_model(str(files["folder"]), lcm_lora=False, **hub)
    with pytest.raises(ModelLoadError, match="live2diff-cam download live2diff"):
        load_model("tiny", motion_module="Leoxing/Live2Diff", **hub)
    with pytest.raises(ModelLoadError, match="live2diff-cam download taesd"):
        load_model(str(files["folder"]), motion_module=False, lcm_lora=False, vae="taesd", **hub)
    # Built-in random models get TAESD's released architecture with random weights, offline.
    assert type(load_model("tiny", vae="taesd", **hub).vae).__name__ == "AutoencoderTiny"


def test_broken_or_foreign_loras_are_refused(files, reference, tmp_path):
    noise = _write(tmp_path / "noise.safetensors", os.urandom(2048))
    foreign = load_file(files["lora"])
    foreign = {k.replace("down_blocks.0.", "down_blocks.7.", 1): v for k, v in foreign.items()}
    save_file(foreign, tmp_path / "foreign.safetensors")
    save_file(
        {"down_blocks.0.resnets.0.conv1.weight": torch.ones(2)}, tmp_path / "plain.safetensors"
    )
    save_file(
        {"lora_te2_text_model_x.lora_down.weight": torch.ones(1)}, tmp_path / "xl.safetensors"
    )
    cases = {
        noise: "not a readable .safetensors",
        tmp_path / "xl.safetensors": "is an SDXL LoRA",
        tmp_path / "foreign.safetensors": "match a layer of this model|does not fit this model",
        tmp_path / "plain.safetensors": "is not a LoRA file",
        tmp_path / "absent.safetensors": "does not exist",
    }
    for path, reason in cases.items():
        with pytest.raises(ModelLoadError, match=reason) as info:
            load_model("tiny", seed=SEED, lora=[(path, 1.0)])
        assert path.name in str(info.value)


def test_vae_override_loads_an_autoencoder_tiny_folder(tmp_path):
    from diffusers import AutoencoderTiny

    taesd_like = AutoencoderTiny(
        encoder_block_out_channels=(32, 32),
        decoder_block_out_channels=(32, 32),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
    )
    taesd_like.save_pretrained(tmp_path / "taesd-like")
    model = load_model("tiny", vae=str(tmp_path / "taesd-like"), local_files_only=True)
    assert isinstance(model.vae, AutoencoderTiny)
    assert_same_weights(model.vae, taesd_like)
