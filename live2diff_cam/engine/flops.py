"""Every FLOP of one live frame, counted by part with `torch.utils.flop_counter` (no estimates).

    counts = count_frame_flops(engine, frame)   # one real `StreamEngine.step`, eager
    counts == {"unet": ..., "motion_modules": ..., "vae_encode": ..., "vae_decode": ...,
               "depth": ..., "total": ...}   # FLOPs of that call

Parts are attributed by module: a part's counter is active while one of its modules runs
(forward hooks), and `total` is the counter around the whole call, so anything outside the
named parts still shows up in it. `unet` is the spatial UNet with the depth mapping network;
`motion_modules` the temporal layers; `depth` the depth network when it is a torch module (the
ONNX runtime cannot be counted; its torch twin has the same FLOPs). Knows nothing of files.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from live2diff_cam.engine.motion_module import MotionModule

PARTS = ("unet", "motion_modules", "vae_encode", "vae_decode", "depth")


def count_frame_flops(
    run: Callable[[], object], parts: dict[str, list[nn.Module]]
) -> dict[str, int]:
    """FLOPs of `run()` in total and while each part's modules run (nested calls counted once)."""
    counts: dict[str, int] = defaultdict(int)
    with contextlib.ExitStack() as hooks:
        for name, modules in parts.items():
            for module in modules:
                hooks.enter_context(_counted(module, name, counts))
        total = FlopCounterMode(display=False)
        with total, torch.inference_mode():
            run()
    result = {name: int(counts[name]) for name in parts}
    result["total"] = int(total.get_total_flops())
    return result


def engine_parts(engine) -> dict[str, list[nn.Module]]:
    """The modules of a `StreamEngine` by part (see the module docstring). The depth network
    is found as the `module` of the engine's depth estimator (or of the one it wraps)."""
    vae = engine.codec.vae
    estimator = engine.depth_estimator
    depth_module = getattr(estimator, "module", None)
    if depth_module is None:
        depth_module = getattr(getattr(estimator, "estimator", None), "module", None)
    motion = [m for m in engine.unet.adapter.modules() if isinstance(m, MotionModule)]
    return {
        "unet": [engine.unet],
        "motion_modules": motion,
        "vae_encode": [m for m in (vae.encoder, getattr(vae, "quant_conv", None)) if m],
        "vae_decode": [m for m in (vae.decoder, getattr(vae, "post_quant_conv", None)) if m],
        "depth": [depth_module] if depth_module is not None else [],
    }


def stream_frame_flops(engine, frame: np.ndarray) -> dict[str, int]:
    """FLOPs of one stream step of `frame` (upload, depth, `StreamEngine.stream_frame`), run
    eagerly, by part; `unet` excludes the motion modules (their own part). A stream step's
    work does not depend on what the cache holds, so no warmup is needed. The engine is reset
    afterwards. On a "meta" engine nothing is computed: only shapes flow, and it is instant."""
    engine.reset()

    def one_step() -> None:
        engine.stream_frame(*engine.upload(frame))

    counts = count_frame_flops(one_step, engine_parts(engine))
    engine.reset()
    counts["unet"] -= counts["motion_modules"]
    return counts


@contextlib.contextmanager
def _counted(module: nn.Module, part: str, counts: dict[str, int]) -> Iterator[None]:
    active: list[FlopCounterMode] = []

    def enter(_module, _args) -> None:
        counter = FlopCounterMode(display=False)
        counter.__enter__()
        active.append(counter)

    def leave(_module, _args, _output) -> None:
        counter = active.pop()
        counter.__exit__(None, None, None)
        counts[part] += counter.get_total_flops()

    handles = [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
