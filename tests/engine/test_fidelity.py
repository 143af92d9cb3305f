"""Fidelity to the original Live2Diff where real weights would show it: its noise schedule and
its CLIP layer. (Frame-by-frame agreement with the authors' code is `test_golden.py`.)"""

from __future__ import annotations

import pytest
import torch

from live2diff_cam.engine.loaders import load_model
from live2diff_cam.engine.models import build_tiny
from live2diff_cam.engine.scheduler import LCMSchedule
from live2diff_cam.engine.text import encode_prompt
from live2diff_cam.errors import EngineError
from tests.engine.conftest import make_engine

PROMPT = "a watercolour painting of a cat"


def sqrt_alpha_bar(model, timestep: int) -> float:
    return float(model.scheduler.alphas_cumprod[timestep].sqrt())


def test_every_model_streams_with_live2diffs_linear_noise_schedule(tiny_model):
    # The original's base config: linear betas 0.00085..0.012 over 1000 steps. SD1.5's own
    # scaled_linear gives 0.527 at t = 499.
    assert sqrt_alpha_bar(tiny_model, 499) == pytest.approx(0.4023, abs=1e-4)
    assert sqrt_alpha_bar(build_tiny(), 499) == pytest.approx(0.4023, abs=1e-4)
    # What the engine actually uses: 2 steps of 50 at indices (32, 45) are t = 359 and 99.
    schedule = LCMSchedule(tiny_model.scheduler, (32, 45), 50, "cpu")
    assert schedule.timesteps.tolist() == [359, 99]
    expected = torch.linspace(0.00085, 0.012, 1000, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - expected, 0)[[359, 99]].sqrt().float()
    torch.testing.assert_close(schedule.sqrt_alpha_bar, alpha_bar, rtol=0, atol=1e-6)


def test_the_models_own_schedule_on_request():
    model = load_model("tiny", scheduler="model")
    assert model.scheduler.config.beta_schedule == "scaled_linear"
    assert sqrt_alpha_bar(model, 499) == pytest.approx(0.5269, abs=1e-4)


def reference_embedding(model, layer_from_end: int) -> torch.Tensor:
    """The original's rule written out: hidden state of that layer, then the final layer norm."""
    ids = model.tokenizer(
        PROMPT, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        hidden = model.text_encoder(ids, output_hidden_states=True).hidden_states
        return model.text_encoder.final_layer_norm(hidden[-layer_from_end])


def test_default_prompt_embedding_is_the_penultimate_clip_layer(tiny_model):
    engine = make_engine(tiny_model, depth=False, prompt=PROMPT)
    penultimate = reference_embedding(tiny_model, 2)
    torch.testing.assert_close(engine.denoiser.text, penultimate, rtol=0, atol=1e-6)
    last = reference_embedding(tiny_model, 1)
    assert (engine.denoiser.text - last).abs().max() > 1e-2  # the choice matters


@pytest.mark.parametrize("clip_skip", [0, 1])
def test_clip_skip_counts_layers_skipped_from_the_end(tiny_model, clip_skip):
    got = encode_prompt(
        tiny_model.tokenizer, tiny_model.text_encoder, PROMPT, clip_skip, "cpu", torch.float32
    )
    torch.testing.assert_close(got, reference_embedding(tiny_model, clip_skip + 1))
    if clip_skip == 0:  # no skip is the encoder's own output
        ids = tiny_model.tokenizer(
            PROMPT, padding="max_length", max_length=77, return_tensors="pt"
        ).input_ids
        with torch.no_grad():
            torch.testing.assert_close(got, tiny_model.text_encoder(ids).last_hidden_state)


def test_clip_skip_beyond_the_encoder_is_a_clear_error(tiny_model):
    with pytest.raises(EngineError, match="clip_skip 2 is out of range for a 2-layer"):
        encode_prompt(
            tiny_model.tokenizer, tiny_model.text_encoder, PROMPT, 2, "cpu", torch.float32
        )
