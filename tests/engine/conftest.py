"""Shared fixtures for engine tests: the tiny model (built once), real clip frames, a depth map."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from live2diff_cam.engine import EngineConfig, StreamEngine, load_model
from tests.data import CLIP, data_file


@pytest.fixture(scope="session")
def tiny_model():
    return load_model("tiny")


@pytest.fixture(scope="session")
def clip_frames() -> list[np.ndarray]:
    """The first 40 frames of a real webcam-style clip, (480, 640, 3) uint8 RGB."""
    import cv2  # tests only: the engine itself never imports OpenCV

    capture = cv2.VideoCapture(str(data_file(CLIP)))
    frames = []
    while len(frames) < 40:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    assert len(frames) == 40
    return frames


def luminance_depth(images: torch.Tensor) -> torch.Tensor:
    """A stand-in depth estimator for tests: luminance, min-max normalised per frame."""
    depth = images.mean(1, keepdim=True)
    low = depth.amin((2, 3), keepdim=True)
    high = depth.amax((2, 3), keepdim=True)
    return (depth - low) / (high - low).clamp_min(1e-6)


def make_engine(model, depth=True, **overrides) -> StreamEngine:
    options = dict(height=16, width=16, steps=2, seed=0)
    options.update(overrides)
    return StreamEngine(EngineConfig(**options), model, luminance_depth if depth else None)


def run_stream(engine: StreamEngine, frames) -> list[np.ndarray]:
    """Feed every frame, drain everything, flush: one output per input, in order."""
    outputs = []
    for frame in frames:
        out = engine.step(frame)
        while out is not None:
            outputs.append(out)
            out = engine.pop_finished()
    outputs += engine.flush()
    return outputs


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    assert len(a) == len(b)
    return max(
        int(np.abs(x.astype(np.int16) - y.astype(np.int16)).max())
        for x, y in zip(a, b, strict=True)
    )
