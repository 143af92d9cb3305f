"""Recording frames to a video file (OpenCV VideoWriter) and to a folder of PNGs.

Owns the file formats (mp4v in .mp4/.mkv, MJPG in .avi) and the promise that a recording never
destroys a file: frames go to a hidden temporary file beside the target, which replaces the
target only when it was finalised and reads back with at least one frame. A run that fails,
writes nothing, or cannot finalise leaves whatever was at the target as it was. The file is
finalised on exit even when the stream ends by an exception or a signal (so it plays); disk
problems become `SinkError`s that name the path and the reason. It knows nothing about the
engine or the session.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sinks.disk_space import DiskGuard, file_size, prepare_folder
from live2diff_cam.app.sinks.letterbox import letterbox_into
from live2diff_cam.errors import SinkError

log = logging.getLogger(__name__)

FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


def partial_path(target: Path) -> Path:
    """The temporary file a recording to `target` is written to: hidden, beside it (so the
    final rename stays on one disk and is atomic), same suffix (OpenCV picks the container by
    it), with the process id (two runs never share one)."""
    return target.with_name(f".{target.name}.partial-{os.getpid()}{target.suffix}")


def holds_a_frame(path: Path) -> bool:
    """Whether OpenCV opens `path` as a video and decodes its first frame."""
    capture = cv2.VideoCapture(str(path))
    try:
        return capture.isOpened() and capture.read()[0]
    finally:
        capture.release()


class RecorderSink:
    """Writes frames to `path` (.mp4, .mkv, .mov or .avi) at `fps`.

    The writer opens at the first frame, with its size; later frames of another size are
    letterboxed into that size. `fourcc` overrides the codec for the suffix. `write(frame)`
    writes one frame as it comes (a caller that paces frames wraps it).
    """

    def __init__(self, path: str | Path, *, fps: float = 30.0, fourcc: str | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if fourcc is None and suffix not in FOURCC_BY_SUFFIX:
            raise SinkError(
                f"cannot record to {self.path}: unknown video type '{suffix}'. Use one of "
                f"{', '.join(sorted(FOURCC_BY_SUFFIX))}."
            )
        if not fps > 0:
            raise SinkError(f"recording fps must be > 0, got {fps}")
        self.fourcc = fourcc or FOURCC_BY_SUFFIX[suffix]
        self.fps = fps
        self.name = f"recorder {self.path.name}"
        self.partial = partial_path(self.path)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height), fixed by the first frame
        self._writer: cv2.VideoWriter | None = None
        self._guard: DiskGuard | None = None
        self._bgr: np.ndarray | None = None  # reused conversion buffer
        self._fitted: np.ndarray | None = None  # reused letterbox buffer for off-size frames

    def __enter__(self) -> RecorderSink:
        if self.path.is_dir():
            raise SinkError(
                f"cannot record to {self.path}: it is a folder. Give a file name such as "
                f"{self.path / 'out.mp4'}."
            )
        # Fail now, not at the first frame, on a read-only disk or a folder in the way.
        prepare_folder(self.path.parent, self.path)
        self._guard = DiskGuard(self.path.parent, self.path)
        self._guard.check(0)
        self.frames_written = 0
        return self

    def __exit__(self, *exc: object) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return  # no frame came: nothing was created, the target is untouched
        writer.release()  # writes the index (moov atom): the file plays after this
        if not holds_a_frame(self.partial):
            self.partial.unlink(missing_ok=True)
            untouched = " was left as it was" if self.path.exists() else " was not created"
            raise SinkError(
                f"could not finalise the recording {self.path}: {self.frames_written} frames "
                "were written, but the file does not play (the disk was full or the file was "
                f"removed); {self.path}{untouched}."
            )
        os.replace(self.partial, self.path)
        log.info("recorded %d frames to %s", self.frames_written, self.path)

    def _open_writer(self, width: int, height: int) -> cv2.VideoWriter:
        writer = cv2.VideoWriter(
            str(self.partial), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (width, height)
        )
        if not writer.isOpened():
            writer.release()
            self.partial.unlink(missing_ok=True)
            raise SinkError(
                f"cannot record to {self.path}: OpenCV could not open a '{self.fourcc}' writer "
                f"for {width}x{height}. Try a .avi path (MJPG), which every OpenCV build writes."
            )
        return writer

    def write(self, frame: Frame) -> None:
        image = frame.image
        if self._writer is None:
            self.size = (frame.width, frame.height)
            self._writer = self._open_writer(*self.size)
            self._bgr = np.empty((frame.height, frame.width, 3), np.uint8)
        assert self.size is not None and self._bgr is not None and self._guard is not None
        if (frame.width, frame.height) != self.size:
            if self._fitted is None:
                self._fitted = np.empty_like(self._bgr)
            letterbox_into(image, self._fitted)
            image = self._fitted
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=self._bgr)
        try:
            self._writer.write(self._bgr)
        except cv2.error as error:
            raise SinkError(f"writing {self.path} failed: {error}") from error
        self.frames_written += 1
        self._guard.check(file_size(self.partial))


class PngFolderSink:
    """Writes each frame as `folder/frame_000000.png`, `frame_000001.png`, ... numbered by the
    order frames arrive (so the names are gap-free even when the session dropped frames)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.name = f"PNG folder {self.folder}"
        self.frames_written = 0
        self._bytes_written = 0
        self._guard: DiskGuard | None = None
        self._bgr: np.ndarray | None = None

    def __enter__(self) -> PngFolderSink:
        prepare_folder(self.folder, self.folder)
        if not self.folder.is_dir():
            raise SinkError(f"cannot write PNGs to {self.folder}: it is a file, not a folder.")
        self._guard = DiskGuard(self.folder, self.folder)
        self._guard.check(0)
        self.frames_written = 0
        self._bytes_written = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self._bgr = None

    def write(self, frame: Frame) -> None:
        if self._bgr is None or self._bgr.shape != frame.image.shape:
            self._bgr = np.empty_like(frame.image)
        cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR, dst=self._bgr)
        path = self.folder / f"frame_{self.frames_written:06d}.png"
        try:
            # Level 1: files ~10% larger than the default, written several times faster.
            ok = cv2.imwrite(str(path), self._bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        except cv2.error as error:
            raise SinkError(f"could not write {path}: {error}") from error
        if not ok:
            path.unlink(missing_ok=True)  # half a PNG would pass for a frame
            if not self.folder.is_dir():
                problem = "the folder was removed. Choose another folder."
            else:
                free_mb = shutil.disk_usage(self.folder).free // (1024 * 1024)
                problem = (
                    f"the folder is not writable or the disk is full ({free_mb} MB free). Free "
                    "some space or choose another folder."
                )
            raise SinkError(f"could not write {path}: {problem}")
        self.frames_written += 1
        self._bytes_written += file_size(path)
        assert self._guard is not None
        self._guard.check(self._bytes_written)
