"""Recording frames to a video file (OpenCV VideoWriter) and to a folder of PNGs.

Owns the file formats (mp4v in .mp4/.mkv, MJPG in .avi), opening the writer at the first frame's
size, finalising the file on exit even when the stream ends by an exception or Ctrl-C (so it
plays), and turning disk problems into `SinkError`s that name the path and the reason. It knows
nothing about the engine or the session.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sinks.letterbox import letterbox_into
from live2diff_cam.errors import SinkError

log = logging.getLogger(__name__)

FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
# Stop before the disk is full: a writer that runs out of space leaves an unplayable file.
MIN_FREE_BYTES = 64 * 1024 * 1024
_DISK_CHECK_EVERY = 30  # frames


def _prepare_folder(folder: Path, what: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SinkError(
            f"cannot write {what}: folder {folder} cannot be created ({error.strerror or error})."
            " Choose another location."
        ) from error


def _check_free_space(folder: Path, what: Path) -> None:
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise SinkError(
            f"stopped writing {what}: the disk is full ({free // (1024 * 1024)} MB free, "
            f"{MIN_FREE_BYTES // (1024 * 1024)} MB needed). Free some space or record elsewhere."
        )


class RecorderSink:
    """Writes frames to `path` (.mp4, .mkv, .mov or .avi) at `fps`.

    The writer opens at the first frame, with its size; later frames of another size are
    letterboxed into that size. `fourcc` overrides the codec for the suffix.
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
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height), fixed by the first frame
        self._writer: cv2.VideoWriter | None = None
        self._bgr: np.ndarray | None = None  # reused conversion buffer
        self._fitted: np.ndarray | None = None  # reused letterbox buffer for off-size frames

    def __enter__(self) -> RecorderSink:
        _prepare_folder(self.path.parent, self.path)
        try:
            # Fail now, not at the first frame, on a read-only disk or a folder in the way.
            self.path.write_bytes(b"")
        except OSError as error:
            raise SinkError(
                f"cannot record to {self.path}: {error.strerror or error}. Choose another path."
            ) from error
        _check_free_space(self.path.parent, self.path)
        self.frames_written = 0
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.release()  # writes the index (moov atom): the file plays after this
            self._writer = None
            log.info("recorded %d frames to %s", self.frames_written, self.path)
        elif self.frames_written == 0 and self.path.exists() and self.path.stat().st_size == 0:
            self.path.unlink()  # no frame came: leave no empty, unplayable file behind

    def _open_writer(self, width: int, height: int) -> cv2.VideoWriter:
        writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (width, height)
        )
        if not writer.isOpened():
            writer.release()
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
        assert self.size is not None and self._bgr is not None
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
        if self.frames_written % _DISK_CHECK_EVERY == 0:
            _check_free_space(self.path.parent, self.path)


class PngFolderSink:
    """Writes each frame as `folder/frame_000000.png`, `frame_000001.png`, ... numbered by the
    order frames arrive (so the names are gap-free even when the session dropped frames)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.name = f"PNG folder {self.folder}"
        self.frames_written = 0
        self._bgr: np.ndarray | None = None

    def __enter__(self) -> PngFolderSink:
        _prepare_folder(self.folder, self.folder)
        if not self.folder.is_dir():
            raise SinkError(f"cannot write PNGs to {self.folder}: it is a file, not a folder.")
        self.frames_written = 0
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
