"""The inputs of the golden run, rebuilt alike by `write_inputs.py` and by the test.

* frames: the first `FRAMES` frames of `tests/data/again.mkv`, shrunk to HEIGHT x WIDTH
  (OpenCV, INTER_AREA), uint8 RGB. Both pipelines get exactly these pixels.
* depth: a raw depth map per frame, (N, H, W) float32, larger = nearer and unnormalised like
  MiDaS's output: the frame's luminance, scaled and offset by amounts that drift from frame to
  frame, so normalising over the 8 warmup frames together differs from normalising each alone.
* noise: for each number of steps T, the fixed noise of every step index, (T, 4, h, w).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

HEIGHT, WIDTH = 32, 48  # latent 16 x 24; the UNet's deepest level is 2 x 3
FRAMES = 20
PROMPT = "an origami paper sculpture of a person at a desk"
NUM_INFERENCE_STEPS = 50
T_INDEX_LISTS = {2: (30, 40), 4: (25, 31, 37, 43)}  # 4 steps: the authors' configs
NOISE_SEED = 7
CLIP = Path(__file__).resolve().parents[2] / "tests" / "data" / "again.mkv"


@dataclass
class GoldenInputs:
    frames: np.ndarray  # (N, H, W, 3) uint8
    depth: np.ndarray  # (N, H, W) float32, raw
    noise: dict[int, np.ndarray]  # steps -> (T, 4, h, w) float32

    def save(self, path: Path) -> None:
        """Arrays, and the settings the original's driver needs (it cannot import this)."""
        noise = {f"noise_{steps}": value for steps, value in self.noise.items()}
        steps = {f"t_index_{steps}": np.array(T_INDEX_LISTS[steps]) for steps in self.noise}
        np.savez_compressed(
            path,
            frames=self.frames,
            depth=self.depth,
            prompt=np.array(PROMPT),
            num_inference_steps=np.array(NUM_INFERENCE_STEPS),
            **noise,
            **steps,
        )


def read_frames(path: Path = CLIP, count: int = FRAMES) -> np.ndarray:
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            raise RuntimeError(f"{path} ended after {len(frames)} frames")
        small = cv2.resize(bgr, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def raw_depth(frames: np.ndarray) -> np.ndarray:
    luminance = frames.astype(np.float32).mean(-1) / 255.0
    n = np.arange(len(frames), dtype=np.float32)[:, None, None]
    scale = 40.0 * (1.0 + 0.5 * np.sin(0.9 * n))
    offset = 300.0 + 25.0 * n
    return (offset + scale * luminance).astype(np.float32)


def golden_inputs() -> GoldenInputs:
    frames = read_frames()
    generator = torch.Generator().manual_seed(NOISE_SEED)
    noise = {
        steps: torch.randn((steps, 4, HEIGHT // 2, WIDTH // 2), generator=generator).numpy()
        for steps in sorted(T_INDEX_LISTS)
    }
    return GoldenInputs(frames, raw_depth(frames), noise)
