"""The engine on a CUDA device: equivalences hold with half precision and compilation.

Run with `pytest -m gpu` on a machine with an NVIDIA GPU; skipped elsewhere.
"""

from __future__ import annotations

import pytest
import torch

from live2diff_cam.engine import load_model
from tests.engine.conftest import make_engine, max_abs_diff, run_stream

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture
def tiny_model():
    """A model of its own: engines cast it in place to their device and dtype."""
    return load_model("tiny")


def test_cuda_matches_cpu_in_float32(tiny_model, clip_frames):
    cpu = run_stream(make_engine(tiny_model, device="cpu"), clip_frames[:20])
    cuda = run_stream(make_engine(tiny_model, device="cuda"), clip_frames[:20])
    assert max_abs_diff(cpu, cuda) <= 2


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_compiled_pipelined_equals_sequential_on_cuda(tiny_model, clip_frames, dtype):
    pipelined = run_stream(
        make_engine(tiny_model, device="cuda", dtype=dtype, compile=True), clip_frames
    )
    sequential = run_stream(
        make_engine(tiny_model, device="cuda", dtype=dtype, pipeline=False), clip_frames
    )
    assert len(pipelined) == len(sequential) == 40
    assert max_abs_diff(pipelined, sequential) <= 3


def test_streaming_equals_offline_on_cuda(tiny_model, clip_frames):
    engine = make_engine(tiny_model, device="cuda", compile=True)
    streamed = run_stream(engine, clip_frames[:16])
    assert max_abs_diff(streamed, engine.denoise_offline(clip_frames[:16])) <= 1


def test_a_cuda_stream_step_syncs_only_for_its_own_readback(tiny_model, clip_frames):
    from tests.engine.test_hot_path import _audited_stream_steps

    engine = make_engine(tiny_model, device="cuda", dtype="float16")
    audit = _audited_stream_steps(engine, clip_frames[:20])
    assert audit.syncing == []
    # The readback is an async copy into pinned memory, not a device->host `.cpu()`.
    assert all("copy_" in op for op in audit.device_to_host)
    assert len(audit.device_to_host) == 20 - engine.config.warmup


def test_captured_step_replays_with_cuda_graphs(tiny_model, clip_frames):
    from torch._dynamo.utils import counters

    counters.clear()
    engine = make_engine(tiny_model, device="cuda", dtype="float16", compile=True)
    engine.warm_up()
    outputs = run_stream(engine, clip_frames)
    assert len(outputs) == 40
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["inductor"].get("cudagraph_skips", 0)
