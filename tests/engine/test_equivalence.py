"""The equivalences of ENGINE_SPEC §5 on the tiny model, fp32 on the CPU, real clip frames."""

from __future__ import annotations

import numpy as np
import torch

from live2diff_cam.engine.attention_mask import clip_attention_mask
from live2diff_cam.engine.motion_module import MotionAdapter, TemporalContext
from live2diff_cam.engine.unet import Live2DiffUNet
from tests.engine.conftest import make_engine, max_abs_diff, run_stream


def test_streaming_equals_offline_for_the_first_window(tiny_model, clip_frames):
    # §5.1: KV-cache + pipelining over the first 16 frames == one masked clip, all frames
    # advancing together, same noise and timesteps.
    engine = make_engine(tiny_model, steps=3, t_index_list=(20, 30, 40))
    streamed = run_stream(engine, clip_frames[:16])
    offline = engine.denoise_offline(clip_frames[:16])
    assert len(streamed) == 16
    assert max_abs_diff(streamed, offline) <= 1


def test_pipelined_equals_sequential_for_40_frames(tiny_model, clip_frames):
    # §5.2: the stream batch and all-steps-per-frame give the same frames, aligned by frame.
    pipelined = run_stream(make_engine(tiny_model, pipeline=True), clip_frames)
    sequential = run_stream(make_engine(tiny_model, pipeline=False), clip_frames)
    assert len(pipelined) == len(sequential) == 40
    assert max_abs_diff(pipelined, sequential) <= 1


def test_cache_of_inputs_equals_cache_of_keys_and_values(tiny_model, clip_frames):
    # §5.3: recomputing K/V of cached frames from stored attention inputs changes nothing,
    # past the point where the ring of rolling slots has wrapped (frame 24 > window 16).
    with_kv = run_stream(make_engine(tiny_model, recompute_keys_values=False), clip_frames[:26])
    with_inputs = run_stream(make_engine(tiny_model, recompute_keys_values=True), clip_frames[:26])
    assert max_abs_diff(with_kv, with_inputs) <= 1


def test_unet_walk_matches_diffusers_when_motion_modules_are_identity(tiny_model):
    # With zero-initialised proj_out (as training starts) every motion module is the identity,
    # so our inflated forward must equal diffusers' own UNet forward exactly.
    adapter = MotionAdapter((32, 64), 1)
    for blocks in (adapter.down_blocks, adapter.up_blocks):
        for block in blocks:
            for module in block.motion_modules:
                torch.nn.init.zeros_(module.temporal_transformer.proj_out.weight)
                torch.nn.init.zeros_(module.temporal_transformer.proj_out.bias)
    unet = Live2DiffUNet(tiny_model.unet, adapter).eval()
    sample = torch.randn(4, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([999, 500, 300, 10])
    text = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1))
    ctx = TemporalContext(
        num_frames=4, mask=clip_attention_mask(4, 2, 4), positions=torch.arange(4)
    )
    with torch.no_grad():
        ours = unet(sample, timesteps, text, ctx)
        theirs = tiny_model.unet(sample, timesteps, text.expand(4, -1, -1)).sample
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_causality_and_warmup_persistence(tiny_model, clip_frames):
    frames = clip_frames[:36]
    baseline = run_stream(make_engine(tiny_model), frames)

    # Changing frame 20 never changes an earlier (non-warmup) output, but changes its own.
    changed = list(frames)
    changed[20] = np.ascontiguousarray(frames[20][::-1])
    outputs = run_stream(make_engine(tiny_model), changed)
    assert max_abs_diff(outputs[:20], baseline[:20]) == 0
    assert max_abs_diff(outputs[20:21], baseline[20:21]) > 2

    # Changing a warmup frame is felt long after the 16-frame window has passed.
    changed = list(frames)
    changed[3] = np.ascontiguousarray(frames[3][:, ::-1])
    outputs = run_stream(make_engine(tiny_model), changed)
    assert max_abs_diff(outputs[35:36], baseline[35:36]) > 0
