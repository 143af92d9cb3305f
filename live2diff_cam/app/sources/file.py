"""File sources: a video file, a folder of images, or one still image, read as a video stream.

Owns decoding (OpenCV), BGR->RGB conversion, looping and optional real-time pacing, so a file can
stand in for a live camera in tests and demos. It knows nothing about the engine or sinks.

    with FileSource("clip.mkv", loop=True, realtime=True) as source:
        frame = source.read()      # Frame: (H, W, 3) uint8 RGB, index 0, 1, 2, ...
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sources.pacing import Pacer
from live2diff_cam.errors import SourceError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".gif", ".mpg"})
DEFAULT_FPS = 30.0


def _read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image file; SourceError when it does not decode."""
    if not path.is_file():
        raise SourceError(f"image {path} is gone: it or its folder was moved or deleted.")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SourceError(
            f"could not decode image {path}: the file is damaged or not an image OpenCV reads "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}). Re-save it as PNG or JPEG."
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FileSource:
    """Frames from a video file, a folder of images (sorted by name) or a single still image.

    `loop`: start again at the end instead of raising `EOFError` (a still image never ends).
    `realtime`: sleep so frames come at the file's frame rate, like a live camera; `None` means
    "paced for a still image, as fast as possible otherwise". `fps` overrides the file's rate
    (folders and still images have none; they default to 30).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        loop: bool = False,
        realtime: bool | None = None,
        fps: float | None = None,
    ) -> None:
        self.path = Path(path)
        if fps is not None and not fps > 0:
            raise SourceError(f"fps must be > 0 for {self.path}, got {fps}")
        if not self.path.exists():
            raise SourceError(f"video file not found: {self.path}. Check the path and spelling.")
        if self.path.is_dir():
            self.kind = "folder"
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
        else:
            self.kind = "video"
        self.name = f"{self.kind} {self.path.name}"
        # Not a device that may come back: a session ends the run when a file fails.
        self.live = False
        self.loop = loop
        self.realtime = (self.kind == "image") if realtime is None else realtime
        self._fps_override = fps
        self.fps = fps or DEFAULT_FPS
        self._capture: cv2.VideoCapture | None = None
        self._bgr: np.ndarray | None = None  # reused decode buffer
        self._files: list[Path] = []
        self._position = 0  # next image in a folder
        self._still: np.ndarray | None = None
        self._pacer: Pacer | None = None
        self._index = 0

    # 1. Opening -------------------------------------------------------------------------------
    def __enter__(self) -> FileSource:
        if self.kind == "folder":
            self._files = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._files:
                raise SourceError(
                    f"folder {self.path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})."
                )
        elif self.kind == "image":
            self._still = _read_image(self.path)
        else:
            self._open_video()
        self._index = 0
        self._pacer = Pacer(self.fps) if self.realtime else None
        return self

    def _open_video(self) -> None:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"could not open {self.path} as a video: OpenCV has no decoder for it or the "
                "file is damaged. Convert it with `ffmpeg -i INPUT -c:v libx264 output.mp4`."
            )
        file_fps = capture.get(cv2.CAP_PROP_FPS)
        if self._fps_override is None and file_fps and 0 < file_fps < 1000:
            self.fps = float(file_fps)
        self._capture = capture

    def __exit__(self, *exc: object) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._still = None

    # 2. Reading -------------------------------------------------------------------------------
    def read(self) -> Frame:
        if self.kind == "image":
            if self._still is None:
                raise SourceError(f"{self.name} is not open: use it inside `with`.")
            # The still is shared between frames: consumers never write into a frame's image.
            image = self._still
        elif self.kind == "folder":
            image = self._next_image()
        else:
            image = self._next_video_frame()
        if self._pacer is not None:
            # After decoding, so a slow decode (the first frame's) does not skew the spacing.
            self._pacer.wait()
        frame = Frame(image, time.perf_counter_ns(), self._index)
        self._index += 1
        return frame

    def _next_image(self) -> np.ndarray:
        if self._position >= len(self._files):
            if not self.loop:
                raise EOFError(f"end of {self.path}")
            self._position = 0
        path = self._files[self._position]
        self._position += 1
        return _read_image(path)

    def _next_video_frame(self) -> np.ndarray:
        if self._capture is None:
            raise SourceError(f"{self.name} is not open: use it inside `with`.")
        ok, bgr = self._capture.read(self._bgr)
        if not ok and self.loop and self._index > 0:
            # Reopen rather than seek: seeking to 0 is unreliable in some containers (mkv, gif).
            self._capture.release()
            self._open_video()
            ok, bgr = self._capture.read(self._bgr)
        if not ok:
            raise EOFError(f"end of {self.path}")
        self._bgr = bgr
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
