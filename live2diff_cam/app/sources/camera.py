"""Webcam source (OpenCV) and camera discovery.

Owns opening a camera by index or by name, asking it for a resolution and frame rate (and
reporting what it actually gives), and riding out short failures: when reads fail (unplugged,
another app grabbed it) it retries with exponential back-off, reopening the device, before it
gives up with a `SourceError`. While it retries the virtual camera keeps showing the last good
frame (that is the sink's job, not this module's). It knows nothing about the engine or sinks.

Names: on Linux a camera can be chosen by (part of) its name, read from
/sys/class/video4linux/video*/name. Elsewhere OpenCV exposes no names: choose by index.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame
from live2diff_cam.errors import SourceError

log = logging.getLogger(__name__)

SYSFS_VIDEO = Path("/sys/class/video4linux")


@dataclass(frozen=True)
class CameraInfo:
    """One camera as `live2diff-cam devices` lists it. `virtual`: a v4l2loopback output (such as
    our own "Live2Diff Camera"), not something to capture from."""

    index: int
    name: str
    path: str
    virtual: bool = False


def _linux_cameras(sysfs: Path | None = None) -> list[CameraInfo]:
    """Cameras from sysfs without opening them. Only each device's first node (`index` 0): a
    USB webcam also registers a metadata node that cannot deliver frames."""
    sysfs = SYSFS_VIDEO if sysfs is None else sysfs
    cameras = []
    for node in sorted(sysfs.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        if not node.name[5:].isdigit():
            continue
        try:
            name = (node / "name").read_text().strip()
            node_index = (node / "index").read_text().strip() if (node / "index").exists() else "0"
        except OSError:
            continue
        if node_index != "0":
            continue
        virtual = "/virtual/" in str(node.resolve())
        cameras.append(CameraInfo(int(node.name[5:]), name, f"/dev/{node.name}", virtual))
    return cameras


def list_cameras(max_index: int = 10) -> list[CameraInfo]:
    """Cameras present now. Linux: read from sysfs (no device is opened). Elsewhere: open indexes
    0..max_index-1 one at a time and release each at once; names are not available there."""
    if platform.system() == "Linux":
        if SYSFS_VIDEO.exists():
            return _linux_cameras()
        # No sysfs (a container): the device nodes are all there is to go on.
        nodes = sorted(Path("/dev").glob("video*"), key=lambda p: p.name)
        return [
            CameraInfo(int(p.name[5:]), f"camera {p.name[5:]}", str(p))
            for p in nodes
            if p.name[5:].isdigit()
        ]
    found = []
    previous = cv2.utils.logging.getLogLevel()
    # A missing index is expected here; OpenCV would print a warning for each one.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        for index in range(max_index):
            capture = cv2.VideoCapture(index, _api_preference())
            try:
                if capture.isOpened():
                    found.append(CameraInfo(index, f"camera {index}", str(index)))
            finally:
                capture.release()
    finally:
        cv2.utils.logging.setLogLevel(previous)
    return found


def _api_preference() -> int:
    # DirectShow opens in a fraction of MSMF's time on Windows; AVFoundation is the only macOS one.
    system = platform.system()
    if system == "Linux":
        return cv2.CAP_V4L2
    if system == "Windows":
        return cv2.CAP_DSHOW
    if system == "Darwin":
        return cv2.CAP_AVFOUNDATION
    return cv2.CAP_ANY


def resolve_camera(device: int | str) -> int:
    """Index of the camera `device` names: an index, or (Linux) a case-insensitive part of its
    name. Our own virtual camera is skipped when matching names, so we never capture ourselves."""
    if isinstance(device, int):
        return device
    text = device.strip().strip("\"'")
    if text.isdigit():
        return int(text)
    if platform.system() != "Linux":
        raise SourceError(
            f'cannot choose camera "{text}" by name on {platform.system()}: OpenCV gives no '
            "camera names there. Use camera:INDEX (see `live2diff-cam devices`)."
        )
    cameras = [c for c in _linux_cameras() if not c.virtual]
    for match in (
        lambda c: c.name.lower() == text.lower(),
        lambda c: text.lower() in c.name.lower(),
    ):
        hits = [c for c in cameras if match(c)]
        if hits:
            return hits[0].index
    known = ", ".join(f'{c.index}: "{c.name}"' for c in cameras) or "none"
    raise SourceError(f'no camera named "{text}" (cameras found: {known}).')


class CameraSource:
    """Frames from a webcam. `device`: index (0 = first camera) or, on Linux, part of its name.

    `width`/`height`/`fps` are requests; cameras pick the nearest mode they support, reported
    after opening in `actual_resolution` (width, height) and `actual_fps` (0.0 when unknown).
    A failed read is retried up to `retries` times, waiting `backoff_s`, doubling up to
    `max_backoff_s`, reopening the device each time; then `read()` raises `SourceError`.
    """

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int | None = 1280,
        height: int | None = 720,
        fps: float | None = 30.0,
        retries: int = 6,
        backoff_s: float = 0.1,
        max_backoff_s: float = 2.0,
    ) -> None:
        if (width is None) != (height is None):
            raise SourceError("give both a camera width and height, or neither")
        if retries < 0 or backoff_s < 0 or max_backoff_s < backoff_s:
            raise SourceError(
                f"bad camera retry settings: retries={retries}, backoff_s={backoff_s}, "
                f"max_backoff_s={max_backoff_s}"
            )
        self.device = device
        self.name = f"camera {device}"
        self.requested_resolution = (width, height) if width and height else None
        self.requested_fps = fps
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.actual_resolution: tuple[int, int] = (0, 0)
        self.actual_fps = 0.0
        self._index: int | None = None
        self._capture: cv2.VideoCapture | None = None
        self._bgr: np.ndarray | None = None  # reused decode buffer
        self._frames = 0

    # 1. Opening -------------------------------------------------------------------------------
    def __enter__(self) -> CameraSource:
        self._index = resolve_camera(self.device)
        self.name = f"camera {self._index}" + (
            f' ("{self.device}")' if isinstance(self.device, str) else ""
        )
        self._capture = self._open()
        return self

    def _open(self) -> cv2.VideoCapture:
        assert self._index is not None
        capture = cv2.VideoCapture(self._index, _api_preference())
        if not capture.isOpened():
            capture.release()
            raise SourceError(self._open_failure())
        if self.requested_resolution is not None:
            width, height = self.requested_resolution
            if width * height > 640 * 480:
                # Most USB webcams deliver HD only as MJPG; raw YUYV tops out near 640x480@30.
                capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if self.requested_fps:
            capture.set(cv2.CAP_PROP_FPS, self.requested_fps)
        # One buffered frame: an older queued frame is latency the viewer feels.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self.actual_resolution = (
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        self.actual_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        log.info(
            "%s opened: %dx%d at %.1f FPS (asked %s at %s)",
            self.name,
            *self.actual_resolution,
            self.actual_fps,
            self.requested_resolution,
            self.requested_fps,
        )
        return capture

    def _open_failure(self) -> str:
        path = Path(f"/dev/video{self._index}")
        if platform.system() == "Linux":
            if not path.exists():
                return (
                    f"camera {self._index} not found: {path} does not exist. Plug the camera in, "
                    "or pick another one (see `live2diff-cam devices`)."
                )
            if not _readable(path):
                return (
                    f"camera {self._index}: permission denied on {path}. Add yourself to the "
                    "'video' group (`sudo usermod -aG video $USER`, then log in again)."
                )
        return (
            f"camera {self._index} could not be opened: it is missing or another app is using "
            "it. Close other apps using the camera, or pick another (see `live2diff-cam devices`)."
        )

    def __exit__(self, *exc: object) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    # 2. Reading -------------------------------------------------------------------------------
    def read(self) -> Frame:
        if self._capture is None:
            raise SourceError(f"{self.name} is not open: use it inside `with`.")
        ok, bgr = self._capture.read(self._bgr)
        if not ok:
            bgr = self._recover()
        self._bgr = bgr
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.perf_counter_ns(), self._frames)
        self._frames += 1
        return frame

    def _recover(self) -> np.ndarray:
        """Retry with exponential back-off, reopening the device; the decoded frame or raise."""
        delay = self.backoff_s
        started = time.monotonic()
        for attempt in range(1, self.retries + 1):
            log.warning(
                "%s: no frame; retry %d/%d in %.2f s", self.name, attempt, self.retries, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)
            if self._capture is not None:
                self._capture.release()
                self._capture = None
            try:
                self._capture = self._open()
            except SourceError:
                continue
            ok, bgr = self._capture.read()
            if ok:
                log.info("%s: frames again after %d retries", self.name, attempt)
                return bgr
        raise SourceError(
            f"{self.name} stopped delivering frames (unplugged or busy?) after {self.retries} "
            f"retries over {time.monotonic() - started:.1f} s. Check the cable, close other apps "
            "using the camera, then start again."
        )


def _readable(path: Path) -> bool:
    return os.access(path, os.R_OK | os.W_OK)
