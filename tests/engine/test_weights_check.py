"""Weight files that would silently ruin a video are refused at load with a clear line: NaN or
infinite weights, a LoRA for other layer shapes, a checkpoint that pickles Python objects."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import load_file, save_file

from live2diff_cam.engine import checkpoint_writers as writers
from live2diff_cam.engine.loaders import load_model
from live2diff_cam.engine.models import build_tiny
from live2diff_cam.engine.weights_check import check_finite
from live2diff_cam.errors import ModelLoadError


@pytest.fixture(scope="module")
def lora(tmp_path_factory) -> dict[str, torch.Tensor]:
    path = writers.write_lora(build_tiny(0), tmp_path_factory.mktemp("lora") / "style.safetensors")
    return load_file(path)


def test_a_lora_full_of_nans_is_refused_with_its_name(lora, tmp_path):
    poisoned = {key: torch.full_like(value, float("nan")) for key, value in lora.items()}
    path = tmp_path / "nan.safetensors"
    save_file(poisoned, path)
    first = next(iter(poisoned))
    count = poisoned[first].numel()
    with pytest.raises(ModelLoadError) as caught:
        load_model("tiny", lora=[(path, 1.0)])
    assert str(caught.value) == (
        f"{path} holds non-finite weights ({count} NaN or infinite values in '{first}', the "
        "first such tensor): the file is damaged or came from a training run that diverged; "
        "it would turn every frame black. Use another copy."
    )


def test_one_infinite_value_is_enough_and_integer_tensors_pass():
    state = {"steps": torch.tensor([1, 2]), "w": torch.ones(3), "b": torch.tensor([0.0, 1e39])}
    state["b"] = state["b"].to(torch.float32)  # 1e39 overflows float32: inf
    with pytest.raises(ModelLoadError, match=r"\(1 NaN or infinite values in 'b'"):
        check_finite(state, "f.ckpt")
    del state["b"]
    assert check_finite(state, "f.ckpt") is state


def test_a_lora_for_other_shapes_names_the_first_key_and_both_shapes(lora, tmp_path):
    key = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_k_lora.down.weight"
    rank, width = lora[key].shape
    lora = {**lora, key: torch.zeros(rank + 1, width)}
    path = tmp_path / "wide.safetensors"
    save_file(lora, path)
    with pytest.raises(ModelLoadError) as caught:
        load_model("tiny", lora=[(path, 1.0)])
    assert str(caught.value) == (
        f"LoRA {path} does not fit this model (down_blocks.0.attentions.0.transformer_blocks.0."
        f"attn1.to_k.lora_A.lora0.weight has shape [{rank + 1}, {width}] in the file, "
        f"[{rank}, {width}] in the model); is it an SD1.5 LoRA?"
    )


class Payload:
    """Stands for any object a pickle may carry (and run code when loaded)."""


def test_the_pickle_refusal_keeps_pytorchs_warning_and_says_why_there_is_no_retry(tmp_path):
    path = tmp_path / "objects.ckpt"
    torch.save({"weight": torch.ones(2), "extra": Payload()}, path)
    with pytest.raises(ModelLoadError) as caught:
        load_model("tiny", lora=[(path, 1.0)])
    message = str(caught.value)
    assert message.startswith(f"{path} holds Python objects besides tensors, so it was not loaded.")
    assert re.search(r"PyTorch warns: .*`weights_only` set to `False`.*arbitrary code", message)
    assert "A weights_only=False retry is not offered: it would run that code." in message
    assert "\x1b" not in message  # PyTorch's terminal colours are stripped
