"""What engine the session runs and how it is built: `EngineRequest` -> `build_engine`.

Owns the request (model, size, prompt, strength ...), how a preset fills it in, the device
choice for "auto", and the depth estimator's timing hook. It does not know threads or when an
engine is built: the session calls the factory on its engine thread (loading can take minutes).
torch, the engine and the depth models are imported only inside `build_engine`, so a session
that never builds the real engine (bypass mode, a test double) never pays for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from live2diff_cam.app.presets import Preset
from live2diff_cam.errors import EngineError

if TYPE_CHECKING:
    import torch


class EngineLike(Protocol):
    """The part of `live2diff_cam.engine.StreamEngine` the session uses."""

    @property
    def delay_frames(self) -> int: ...

    def step(self, frame: np.ndarray) -> np.ndarray | None: ...

    def pop_finished(self) -> np.ndarray | None: ...

    def flush(self) -> list[np.ndarray]: ...

    def reset(self) -> None: ...

    def set_prompt(self, prompt: str) -> None: ...

    def set_strength(self, strength: float) -> None: ...

    def set_depth_scale(self, scale: float) -> None: ...

    def warm_up(self, progress: Callable[[str], None] | None = None) -> None: ...


@dataclass(frozen=True)
class EngineRequest:
    """What engine to build: the model (from the preset) and the engine's settings.

    `model`: "tiny" | "sd15-random" | hub id | folder | file. `prompt` is the full prompt
    (a preset's template already applied). `depth_model`: ONNX file / hub id / alias /
    `random:ARCH`, or None; `depth_runtime`: "onnx" (onnxruntime-gpu) or "torch".
    `vae`: "taesd" (the fast autoencoder, the live default), None (the model's own full VAE:
    the quality choice) or a hub id/folder. `compile`: "Optimize for speed", one compiled
    stream step (CUDA graphs on CUDA); None = on where the device is CUDA.
    `device="meta"` builds the engine without computing anything (FLOP counting).
    `negative_prompt` is carried for the UI and for engines with guidance; the LCM engine
    runs at guidance 1, where a negative prompt has no effect, so `build_engine` drops it.
    """

    model: str = "tiny"
    lora: tuple[tuple[str, float], ...] = ()
    motion_module: str | None = None  # None: the released Live2Diff checkpoint; "none": off
    vae: str | None = "taesd"
    height: int = 512
    width: int = 512
    steps: int = 2
    strength: float = 0.5
    seed: int = 0
    prompt: str = ""
    negative_prompt: str = ""
    device: str = "auto"
    dtype: str = "auto"
    pipeline: bool = True
    depth_model: str | None = None
    depth_runtime: Literal["onnx", "torch"] = "onnx"
    depth_scale: float = 1.0
    compile: bool | None = None

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise EngineError(f"Output size must be positive, got {self.width}x{self.height}.")
        check_strength(self.strength)
        check_depth_scale(self.depth_scale)
        if self.depth_runtime not in ("onnx", "torch"):
            raise EngineError(f"Depth runtime must be onnx or torch, got {self.depth_runtime!r}.")

    def with_preset(self, preset: Preset, subject: str) -> EngineRequest:
        """This request with the preset's model, LoRA, strength and template around `subject`."""
        return replace(
            self,
            model=preset.model,
            lora=preset.loras,
            prompt=preset.render(subject),
            negative_prompt=preset.negative_prompt,
            strength=preset.strength,
        )


def check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise EngineError(f"Strength must be in [0, 1], got {strength}.")


def check_depth_scale(scale: float) -> None:
    if scale < 0:
        raise EngineError(f"Depth scale must be >= 0, got {scale}.")


DepthHook = Callable[[object, float], None]
"""Called with each depth map batch ((N, 1, H, W) tensor) and the time it took in ms."""

EngineFactory = Callable[[EngineRequest, DepthHook], EngineLike]
"""Builds an engine for a request, on the engine thread. The factory wraps its depth estimator
so every depth map reaches the hook (stats, `--save-depth`)."""


def build_engine(request: EngineRequest, depth_hook: DepthHook) -> EngineLike:
    """The engine for `request`: `load_model` + `EngineConfig` + optional depth model. The one
    builder of `run`, `bench` and the GUI."""
    from live2diff_cam.engine import EngineConfig, StreamEngine, load_model

    device, dtype = _resolve_device(request.device, request.dtype)
    compile = device.startswith("cuda") if request.compile is None else request.compile
    if compile:
        _keep_compiled_artefacts()
    depth = None
    if request.depth_model is not None:
        from live2diff_cam.depth import create_depth_estimator

        # Nothing runs on "meta" (FLOP counting): the depth network is counted in torch.
        prefer: Literal["onnx", "torch"] = "torch" if device == "meta" else request.depth_runtime
        estimator = create_depth_estimator(request.depth_model, device, prefer=prefer)
        depth = _TimedDepth(estimator, depth_hook)
    motion: str | bool = True if request.motion_module is None else request.motion_module
    if str(motion).lower() == "none":
        motion = False
    model = load_model(
        request.model, lora=list(request.lora), motion_module=motion, vae=request.vae
    )
    config = EngineConfig(
        height=request.height,
        width=request.width,
        steps=request.steps,
        strength=request.strength,
        device=device,
        dtype=dtype,
        seed=request.seed,
        prompt=request.prompt,
        depth_scale=request.depth_scale,
        pipeline=request.pipeline,
        compile=compile and device != "meta",
    )
    return StreamEngine(config, model, depth_estimator=depth)


def _keep_compiled_artefacts() -> None:
    """Inductor's caches (compiled kernels, FX graphs, autotuning) in the app's cache folder
    instead of /tmp, so a compile is paid once per machine, not once per boot."""
    import os

    from platformdirs import user_cache_dir

    os.environ.setdefault(
        "TORCHINDUCTOR_CACHE_DIR", os.path.join(user_cache_dir("live2diff-cam"), "torchinductor")
    )


def _resolve_device(device: str, dtype: str) -> tuple[str, str]:
    """Device "auto": CUDA when torch sees one, else CPU; dtype "auto": float16 on CUDA."""
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "float16" if device.startswith("cuda") else "float32"
    return device, dtype


class _TimedDepth:
    """Wraps a depth estimator to pass each map and its host-side time to a hook (on CUDA that
    is launch time: a sync here would slow every frame just to measure it)."""

    def __init__(self, estimator: Callable, hook: DepthHook) -> None:
        self.estimator = estimator
        self._hook = hook

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter_ns()
        depth = self.estimator(frames)
        self._hook(depth, (time.perf_counter_ns() - start) / 1e6)
        return depth
