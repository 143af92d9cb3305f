"""The real SD1.5 LoRA file (old diffusers attention-processor keys) on the full-size model.

Every one of its 256 tensors must land on a layer of the SD1.5 architecture: exactly the 128
attention projections it names change, nothing else does, and one of them equals
W + scale * up @ down computed by hand.
"""

from __future__ import annotations

import gc

import pytest
import torch
from safetensors.torch import load_file

from live2diff_cam.engine.lora_loader import fuse_lora
from live2diff_cam.engine.models import EngineModel, build_sd15_random
from tests.data import DATA_DIR, LORA

LORA_FILE = DATA_DIR / LORA  # a missing file fails the load, it is never skipped


@pytest.fixture(scope="module")
def sd15() -> EngineModel:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machine: avoid oversubscription
    model = build_sd15_random(0)
    yield model
    del model
    gc.collect()
    torch.set_num_threads(threads)


def _fingerprints(model: EngineModel) -> dict[str, tuple[float, float]]:
    # Sum and absolute sum per tensor: a fused delta changes them, an untouched tensor gives the
    # same bits again (same reduction order). Cloning 1 B weights would not fit in memory.
    out = {}
    for part in ("unet", "text_encoder"):
        for name, tensor in getattr(model, part).state_dict().items():
            out[f"{part}.{name}"] = (tensor.sum().item(), tensor.abs().sum().item())
    return out


def _targets(lora: dict[str, torch.Tensor]) -> dict[str, str]:
    """UNet weight name -> LoRA key stem, from the processor-format names."""
    targets = {}
    for key in lora:
        if key.endswith("_lora.down.weight"):
            stem = key.removesuffix(".down.weight")
            module, _, projection = stem.removesuffix("_lora").rpartition(".processor.")
            suffix = ".0.weight" if projection == "to_out" else ".weight"
            targets[f"unet.{module}.{projection}{suffix}"] = stem
    return targets


def test_real_lora_matches_every_key_on_the_full_size_model(sd15):
    scale = 0.8
    lora = load_file(LORA_FILE)
    assert len(lora) == 256
    targets = _targets(lora)
    assert len(targets) == 128
    hand_name = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
    hand_before = sd15.unet.get_submodule(hand_name).weight.detach().clone()
    before = _fingerprints(sd15)
    assert set(targets) <= set(before)

    layers = fuse_lora(sd15, LORA_FILE, scale)

    after = _fingerprints(sd15)
    assert layers == 128 == len(lora) // 2
    assert set(after) == set(before)  # plain modules again, no LoRA wrappers left
    changed = {name for name in before if before[name] != after[name]}
    assert changed == set(targets)
    stem = targets[f"unet.{hand_name}.weight"]
    expected = hand_before + scale * lora[f"{stem}.up.weight"] @ lora[f"{stem}.down.weight"]
    torch.testing.assert_close(
        sd15.unet.get_submodule(hand_name).weight.detach(), expected, rtol=0, atol=1e-6
    )
