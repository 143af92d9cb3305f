"""StreamEngine behaviour: output order and count, warmup, live changes, errors, filter."""

from __future__ import annotations

import numpy as np
import pytest

from live2diff_cam.engine import EngineConfig, EngineModel, StreamEngine, timestep_indices
from live2diff_cam.errors import EngineError
from tests.engine.conftest import make_engine, max_abs_diff, run_stream


def test_warmup_then_one_frame_per_call_after_the_pipeline_delay(tiny_model, clip_frames):
    engine = make_engine(tiny_model, steps=3, t_index_list=(20, 30, 40))
    returned = [engine.step(frame) for frame in clip_frames[:7]]
    assert returned == [None] * 7
    first = engine.step(clip_frames[7])
    assert first is not None and first.shape == (16, 16, 3) and first.dtype == np.uint8
    backlog = []
    while (frame := engine.pop_finished()) is not None:
        backlog.append(frame)
    assert len(backlog) == 7  # the 8 warmup frames finish together
    # Stream frames: the stream batch needs steps - 1 calls before the first one is done.
    assert engine.delay_frames == 2
    assert engine.step(clip_frames[8]) is None
    assert engine.step(clip_frames[9]) is None
    assert engine.step(clip_frames[10]) is not None
    assert len(engine.flush()) == 2


def test_a_clip_shorter_than_the_warmup_still_gives_one_output_per_input(tiny_model, clip_frames):
    outputs = run_stream(make_engine(tiny_model), clip_frames[:5])
    assert len(outputs) == 5
    assert all(o.shape == (16, 16, 3) for o in outputs)


def test_same_seed_same_frames_other_seed_other_frames(tiny_model, clip_frames):
    a = run_stream(make_engine(tiny_model, seed=3), clip_frames[:10])
    b = run_stream(make_engine(tiny_model, seed=3), clip_frames[:10])
    c = run_stream(make_engine(tiny_model, seed=4), clip_frames[:10])
    assert max_abs_diff(a, b) == 0
    assert max_abs_diff(a, c) > 0


@pytest.mark.parametrize("change", ["prompt", "strength"])
def test_live_change_reprimes_without_gaps_or_lost_frames(tiny_model, clip_frames, change):
    frames = clip_frames[:24]
    engine = make_engine(tiny_model, steps=3)
    baseline = run_stream(make_engine(tiny_model, steps=3), frames)
    outputs: list[np.ndarray] = []
    per_call = []
    for i, frame in enumerate(frames):
        if i == 14:
            if change == "prompt":
                engine.set_prompt("an oil painting of a person, thick brush strokes")
            else:
                engine.set_strength(0.8)
        out = engine.step(frame)
        count = 0
        while out is not None:
            outputs.append(out)
            count += 1
            out = engine.pop_finished()
        per_call.append(count)
    outputs += engine.flush()
    assert len(outputs) == len(frames)
    # From the first stream output on, every call returns exactly one frame: no blackout.
    assert all(count == 1 for count in per_call[10:])
    assert max_abs_diff(outputs[:12], baseline[:12]) == 0
    assert max_abs_diff(outputs[20:], baseline[20:]) > 0
    if change == "strength":
        assert engine.config.timestep_indices == timestep_indices(0.8, 3, 50)


def test_depth_scale_zero_ignores_depth_and_nonzero_uses_it(tiny_model, clip_frames):
    without = run_stream(make_engine(tiny_model, depth=False), clip_frames[:10])
    scaled_off = run_stream(make_engine(tiny_model, depth_scale=0.0), clip_frames[:10])
    with_depth = run_stream(make_engine(tiny_model), clip_frames[:10])
    assert max_abs_diff(without, scaled_off) <= 1
    assert max_abs_diff(without, with_depth) > 0


def test_any_input_size_is_cropped_and_resized_to_the_engine_size(tiny_model):
    engine = make_engine(tiny_model, depth=False, height=16, width=32)
    rng = np.random.default_rng(0)
    for shape in [(48, 64, 3), (100, 30, 3)] * 4:
        engine.step(rng.integers(0, 256, shape, dtype=np.uint8))
    assert engine.pop_finished().shape == (16, 32, 3)


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((16, 16, 3), np.float32), "uint8"),
        (np.zeros((16, 16), np.uint8), "(H, W, 3)"),
        (np.zeros((16, 16, 4), np.uint8), "(H, W, 3)"),
    ],
)
def test_bad_frames_raise_a_clear_engine_error(tiny_model, frame, message):
    engine = make_engine(tiny_model, depth=False)
    with pytest.raises(EngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine.step(frame)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(height=500, width=512), "multiple of 8"),
        (dict(strength=1.5), "strength must be in"),
        (dict(steps=9), "between 1 and warmup"),
        (dict(t_index_list=(40, 30)), "increasing"),
        (dict(dtype="float8"), "dtype must be one of"),
        (dict(depth_scale=-1.0), "depth_scale"),
    ],
)
def test_config_validation_messages(options, message):
    with pytest.raises(EngineError, match=message):
        EngineConfig(**options)


def test_resolution_must_fit_the_model(tiny_model, monkeypatch):
    # SD1.5 needs multiples of 64 pixels (VAE x8, three UNet down-samplings).
    monkeypatch.setattr(EngineModel, "pixel_multiple", property(lambda self: 64))
    with pytest.raises(EngineError, match="must be a multiple of 64 pixels"):
        StreamEngine(EngineConfig(height=96, width=128), tiny_model)


def test_cuda_without_a_gpu_says_how_to_fix_it(tiny_model, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EngineError, match="--device cpu"):
        StreamEngine(EngineConfig(height=16, width=16, device="cuda"), tiny_model)


def test_strength_maps_to_the_papers_timestep_indices():
    assert timestep_indices(0.4, 3, 50) == (30, 36, 42)
    assert timestep_indices(1.0, 2, 50) == (0, 25)
    # Strength 0 clamps to the least noise the schedule has.
    assert timestep_indices(0.0, 2, 50) == (48, 49)


def test_similar_frame_filter_skips_repeats_but_not_forever(tiny_model, clip_frames):
    engine = make_engine(
        tiny_model, depth=False, similar_filter=True, similar_threshold=0.9, similar_max_skip=2
    )
    for frame in clip_frames[:8]:
        engine.step(frame)
    while engine.pop_finished() is not None:
        pass
    still = clip_frames[8]
    calls_before = engine.denoiser.next_index.item()
    outputs = [engine.step(still) for _ in range(9)]
    unet_calls = engine.denoiser.next_index.item() - calls_before
    # Identical frames: similarity 1 -> skip probability 1, but at most 2 skips in a row.
    assert unet_calls == 3
    assert sum(o is not None for o in outputs) >= 6
