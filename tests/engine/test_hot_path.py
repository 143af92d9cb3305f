"""The live frame path: no host sync in a stream step, FLOPs by part, depth normalisation as
the original, a style slider that keeps the output moving, frames handed out as copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from live2diff_cam.engine.codec import depth_to_image
from live2diff_cam.engine.flops import PARTS, stream_frame_flops
from tests.engine.conftest import make_engine, run_stream

# Ops that make the host wait for the device (or depend on data the host must read).
SYNCING_OPS = {"_local_scalar_dense", "item", "nonzero", "is_nonzero", "equal", "allclose"}


class OpAudit(TorchDispatchMode):
    """Records every aten op that forces a host synchronisation."""

    def __init__(self) -> None:
        super().__init__()
        self.syncing: list[str] = []
        self.device_to_host: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SYNCING_OPS:
            self.syncing.append(str(func))
        if name in ("_to_copy", "copy_") and _crosses_to_host(func, args, kwargs or {}):
            self.device_to_host.append(str(func))
        return func(*args, **(kwargs or {}))


def _crosses_to_host(func, args, kwargs) -> bool:
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if func.overloadpacket.__name__ == "copy_":
        destination, source = tensors[0], tensors[1]
        return destination.device.type == "cpu" and source.device.type != "cpu"
    target = kwargs.get("device")
    return target is not None and torch.device(target).type == "cpu" and tensors[0].is_cuda


def _audited_stream_steps(engine, frames) -> OpAudit:
    for frame in frames[: engine.config.warmup]:
        engine.step(frame)
    audit = OpAudit()
    with audit:
        for frame in frames[engine.config.warmup :]:
            engine.step(frame)
            while engine.pop_finished() is not None:
                pass
    return audit


def test_a_stream_step_never_makes_the_host_wait(tiny_model, clip_frames):
    engine = make_engine(tiny_model, steps=3)
    audit = _audited_stream_steps(engine, clip_frames[:20])
    assert audit.syncing == []
    assert audit.device_to_host == []  # on the CPU: nothing crosses; on CUDA see test_gpu.py


def test_the_audit_does_catch_a_host_sync(tiny_model, clip_frames):
    # The similar-frame filter decides on the host (a documented sync, off by default).
    engine = make_engine(tiny_model, similar_filter=True)
    audit = _audited_stream_steps(engine, clip_frames[:10])
    assert any(("item" in op or "_local_scalar_dense" in op) for op in audit.syncing)


def test_flops_by_part_add_up_and_follow_the_work(tiny_model, clip_frames):
    with_depth = stream_frame_flops(make_engine(tiny_model, steps=2), clip_frames[0])
    assert set(with_depth) == {*PARTS, "total"}
    assert all(with_depth[part] > 0 for part in ("unet", "motion_modules", "vae_encode"))
    assert sum(with_depth[p] for p in PARTS) == with_depth["total"]
    # Three steps: one more row in the stream batch, the same VAE work.
    three = stream_frame_flops(make_engine(tiny_model, steps=3), clip_frames[0])
    assert three["unet"] == pytest.approx(with_depth["unet"] * 3 / 2, rel=0.01)
    assert three["vae_encode"] == with_depth["vae_encode"]
    # Without depth, only the frame is encoded: half the encoder's work.
    no_depth = stream_frame_flops(make_engine(tiny_model, depth=False), clip_frames[0])
    assert no_depth["vae_encode"] * 2 == with_depth["vae_encode"]


def test_warmup_depth_is_normalised_over_the_clip_later_frames_alone():
    near = torch.full((1, 1, 4, 4), 10.0)
    far = torch.linspace(0, 5, 16).view(1, 1, 4, 4)
    joint = depth_to_image(torch.cat([near, far]), joint=True)
    alone = depth_to_image(torch.cat([near, far]), joint=False)
    assert joint.shape == (2, 3, 4, 4)
    # Together: the flat near map is the clip's maximum (+1); alone it is flat (-1, not NaN).
    assert torch.equal(joint[0], torch.ones(3, 4, 4))
    assert torch.equal(alone[0], -torch.ones(3, 4, 4))
    assert joint[1].max() == pytest.approx(0.0) and alone[1].max() == 1.0


def test_strength_ticks_that_keep_the_timesteps_do_not_reprime(tiny_model, clip_frames):
    engine = make_engine(tiny_model, strength=0.5)
    for frame in clip_frames[:10]:
        engine.step(frame)
    engine.set_strength(0.505)  # same LCM timestep indices
    assert not engine._reprime
    engine.set_strength(0.7)
    assert engine._reprime


def test_dragging_the_style_slider_keeps_one_frame_per_call(tiny_model, clip_frames):
    engine = make_engine(tiny_model, steps=2)
    primes = 0
    original = engine._prime

    def counted(*args, **kwargs):
        nonlocal primes
        primes += 1
        original(*args, **kwargs)

    engine._prime = counted
    per_call = []
    for i, frame in enumerate(clip_frames):
        if i >= 10:  # a drag from 0.5 towards 0 and back: a new value every frame
            engine.set_strength(abs(0.5 - 0.02 * (i - 10)))
        out = engine.step(frame)
        count = 0
        while out is not None:
            count += 1
            out = engine.pop_finished()
        per_call.append(count)
    # The warmup clip at frame 7, the pipeline delay at frame 8, then one frame per call while
    # the slider moves: never a stall, never a burst.
    assert per_call[7:9] == [8, 0]
    assert per_call[9:] == [1] * (len(clip_frames) - 9)
    # At most one re-prime in flight: far fewer passes than slider ticks.
    assert primes <= 1 + (len(clip_frames) - 10) // 2


def test_returned_frames_are_the_callers_own(tiny_model, clip_frames):
    outputs = run_stream(make_engine(tiny_model), clip_frames[:12])
    again = run_stream(make_engine(tiny_model), clip_frames[:12])
    outputs[0][:] = 0  # a caller scribbling on a frame touches nothing else
    assert all(np.array_equal(a, b) for a, b in zip(outputs[1:], again[1:], strict=True))
