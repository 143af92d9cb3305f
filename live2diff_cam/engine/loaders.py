"""Model loading: turns a model source string into an `EngineModel`."""

from __future__ import annotations

from live2diff_cam.engine.models import EngineModel, build_sd15_random, build_tiny
from live2diff_cam.errors import ModelLoadError


def load_model(source: str, seed: int = 0) -> EngineModel:
    if source == "tiny":
        return build_tiny(seed)
    if source == "sd15-random":
        return build_sd15_random(seed)
    raise ModelLoadError(f"unknown model source {source!r}")
