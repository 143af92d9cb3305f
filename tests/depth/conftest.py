"""Shared fixtures for depth tests: real clip frames, and a tiny real depth network built once.

No depth weights can be downloaded here, so the network is a randomly initialised
`DepthAnythingForDepthEstimation` (the real transformers class, a tiny config) saved as a real
transformers folder and exported to ONNX through `live2diff-cam export-depth`, the real path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from live2diff_cam import cli
from live2diff_cam.depth import OnnxDepthEstimator, TorchDepthEstimator
from live2diff_cam.depth.random_models import build_random_depth_model
from tests.data import CLIP, data_file


def read_clip(name: str, indices: list[int]) -> np.ndarray:
    """Frames `indices` of a clip in tests/data as (N, H, W, 3) uint8 RGB."""
    import cv2

    capture = cv2.VideoCapture(str(data_file(name)))
    frames, index = [], 0
    while index <= max(indices):
        ok, bgr = capture.read()
        assert ok, f"{name} ended before frame {index}"
        if index in indices:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return np.stack(frames)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1], the engine's layout."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255.0).contiguous()


@pytest.fixture(scope="session")
def real_frames() -> torch.Tensor:
    """Four frames of a real webcam-style clip (a person at a desk), (4, 3, 480, 640)."""
    return to_tensor(read_clip(CLIP, [0, 25, 50, 75]))


@pytest.fixture(scope="session")
def wide_frames() -> torch.Tensor:
    """Two frames of the real clip cut to 16:9 and shrunk, (2, 3, 270, 480): another aspect
    and size than the model's input."""
    import cv2

    frames = read_clip(CLIP, [0, 10])[:, 60:420]  # 640x360 centre band
    return to_tensor(
        np.stack([cv2.resize(f, (480, 270), interpolation=cv2.INTER_AREA) for f in frames])
    )


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private user cache dir (XDG_CACHE_HOME) so exports never touch the real one."""
    home = tmp_path_factory.mktemp("cache-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transformers model folder (config.json + model.safetensors) of a tiny Depth-Anything."""
    model, _ = build_random_depth_model("tiny-depth-anything", seed=0)
    folder = tmp_path_factory.mktemp("tiny-depth-anything")
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_onnx(tiny_folder: Path, cache_home: Path) -> Path:
    """The tiny model exported by `live2diff-cam export-depth FOLDER` into the (test) cache."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["export-depth", str(tiny_folder)]) == 0
    path = Path(out.getvalue().strip().splitlines()[-1])
    assert path.is_file()
    return path


@pytest.fixture(scope="session")
def onnx_estimator(tiny_onnx: Path) -> OnnxDepthEstimator:
    return OnnxDepthEstimator(tiny_onnx, device="cpu")


@pytest.fixture(scope="session")
def torch_estimator(tiny_folder: Path) -> TorchDepthEstimator:
    from live2diff_cam.depth import load_transformers_depth_model

    model, spec = load_transformers_depth_model(tiny_folder)
    return TorchDepthEstimator(model, spec, device="cpu")
