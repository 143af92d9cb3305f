"""`live2diff-cam eval`: temporal consistency of a stylised video, as the paper measures it.

Warp error (Live2Diff §5, after Lai et al. 2018): optical flow is estimated on the INPUT video
(the true motion), each previous OUTPUT frame is warped along it to the current frame, and the
mean absolute difference to the current output is taken over the pixels where the flow is
reliable (forward-backward consistent). A flickering or temporally incoherent stylisation
scores high; a consistent one scores close to what the input itself scores.

Reads videos or PNG folders with OpenCV; knows nothing about the engine.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from live2diff_cam.errors import SourceError

# A flow vector is trusted where going forward then backward lands within this many pixels.
CONSISTENCY_PX = 1.0


@dataclass(frozen=True)
class WarpError:
    """Mean absolute warp error in [0, 1] (RGB scaled to [0, 1]) and its spread over frames."""

    mean: float
    p95: float
    frame_pairs: int
    reliable_fraction: float


def read_frames(path: str | Path) -> list[np.ndarray]:
    """All frames of a video file or a folder of images (sorted by name), RGB uint8."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files]
    elif path.is_file():
        capture = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
    else:
        raise SourceError(f"{path} does not exist: give a video file or a folder of images.")
    frames = [f for f in frames if f is not None]
    if len(frames) < 2:
        raise SourceError(f"{path} holds {len(frames)} readable frame(s); warp error needs 2+.")
    return [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from grey `a` to grey `b` (Farneback), (H, W, 2) in pixels."""
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `image` at x + flow(x): brings a frame of time t-1 to time t for a t->t-1 flow."""
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip


def warp_error(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> WarpError:
    """Warp error of `outputs` along the motion of `inputs` (same count; any sizes)."""
    if len(inputs) != len(outputs):
        raise SourceError(
            f"input has {len(inputs)} frames, output {len(outputs)}: they must pair one to one"
        )
    h, w = outputs[0].shape[:2]
    grey = [cv2.cvtColor(cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA),
                         cv2.COLOR_RGB2GRAY) for f in inputs]  # fmt: skip
    errors, reliable = [], []
    for t in range(1, len(outputs)):
        backward = _flow(grey[t], grey[t - 1])  # t -> t-1: where each pixel of t came from
        forward = _flow(grey[t - 1], grey[t])
        # Forward-backward check: occlusions and flow failures are left out.
        round_trip = backward + _warp(forward, backward)
        mask = np.linalg.norm(round_trip, axis=-1) < CONSISTENCY_PX
        warped = _warp(outputs[t - 1], backward).astype(np.float32) / 255.0
        current = outputs[t].astype(np.float32) / 255.0
        if mask.any():
            errors.append(float(np.abs(warped - current)[mask].mean()))
        reliable.append(float(mask.mean()))
    return WarpError(
        mean=float(np.mean(errors)) if errors else float("nan"),
        p95=float(np.percentile(errors, 95)) if errors else float("nan"),
        frame_pairs=len(errors),
        reliable_fraction=float(np.mean(reliable)),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="the source video (or folder of images)")
    parser.add_argument("--output", required=True, help="the stylised video (or PNG folder)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def main(args: argparse.Namespace) -> int:
    result = warp_error(read_frames(args.input), read_frames(args.output))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(
            f"warp error {result.mean:.4f} (p95 {result.p95:.4f}) over {result.frame_pairs} "
            f"frame pairs; flow reliable on {100 * result.reliable_fraction:.0f}% of pixels"
        )
    return 0
