"""Screen sources (mss): a whole monitor, a fixed region, or a window followed by its title.

Owns the mss objects (one per reading thread: on Windows their GDI handles are thread-local, so
an mss made on one thread must not be used on another), BGRA->RGB conversion and pacing to a
frame rate (a screen has no rate of its own; unpaced, a capture thread would spin a core).
It knows nothing about the engine or sinks; window lookup lives in `windows.py`.

Under a Wayland session mss sees only X11 (XWayland) windows; log in to an "Xorg"/"X11"
session to capture everything.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sources.pacing import Pacer
from live2diff_cam.app.sources.windows import find_window, window_geometry
from live2diff_cam.errors import SourceError


@dataclass(frozen=True)
class MonitorInfo:
    """A monitor as mss numbers it: 1.. are monitors, 0 is all of them together."""

    index: int
    left: int
    top: int
    width: int
    height: int


def _display_problem(error: Exception) -> str:
    if platform.system() == "Linux" and not os.environ.get("DISPLAY"):
        if os.environ.get("WAYLAND_DISPLAY"):
            return (
                "screen capture needs X11: this is a Wayland session without XWayland's "
                "$DISPLAY. Log in to an 'Xorg'/'X11' session, or capture a camera or file."
            )
        return (
            "no display to capture: $DISPLAY is not set (headless or over SSH?). Run inside a "
            "desktop session, or set DISPLAY=:0."
        )
    return f"could not capture the screen: {error}. Check that the display is running."


def open_mss() -> Any:
    """A new mss object for the calling thread (use it on this thread only); SourceError if the
    display cannot be reached."""
    import mss
    import mss.exception

    factory = getattr(mss, "MSS", None) or mss.mss  # mss >= 10.2 renamed the factory
    try:
        return factory()
    except mss.exception.ScreenShotError as error:
        raise SourceError(_display_problem(error)) from error


def list_monitors() -> list[MonitorInfo]:
    """Monitors of the current display, index 1.. (0, all together, is left out)."""
    with open_mss() as sct:
        return [
            MonitorInfo(i, m["left"], m["top"], m["width"], m["height"])
            for i, m in enumerate(sct.monitors)
            if i > 0
        ]


class _ScreenGrabber:
    """Per-thread mss objects and the grab + convert step shared by screen and window sources."""

    def __init__(self, fps: float) -> None:
        if not fps > 0:
            raise SourceError(f"screen capture fps must be > 0, got {fps}")
        self.fps = fps
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self._pacer = Pacer(fps)
        self._index = 0

    def _sct(self) -> Any:
        sct = getattr(self._local, "sct", None)
        if sct is None:
            sct = open_mss()
            self._local.sct = sct
            with self._lock:
                self._opened.append(sct)
        return sct

    def _close_all(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for sct in opened:
            sct.close()
        self._local = threading.local()

    def _grab(self, rect: dict[str, int], what: str) -> Frame:
        import mss.exception

        self._pacer.wait()
        try:
            shot = self._sct().grab(rect)
        except mss.exception.ScreenShotError as error:
            raise SourceError(
                f"capturing {what} failed: {error}. The display may have closed or changed; "
                "check `live2diff-cam devices` and start again."
            ) from error
        bgra = np.asarray(shot)  # (H, W, 4) BGRA view of mss's buffer, no copy
        frame = Frame(cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB), time.perf_counter_ns(), self._index)
        self._index += 1
        return frame


class ScreenSource(_ScreenGrabber):
    """A monitor (1 = primary, 0 = all together) or a region `(left, top, width, height)` in
    virtual-screen pixels, captured at up to `fps` frames a second."""

    def __init__(
        self,
        monitor: int = 1,
        *,
        region: tuple[int, int, int, int] | None = None,
        fps: float = 30.0,
    ) -> None:
        super().__init__(fps)
        if region is not None and (region[2] <= 0 or region[3] <= 0):
            raise SourceError(f"screen region {region} must have a positive width and height")
        self.monitor = monitor
        self.region = region
        self.name = f"screen region {region}" if region else f"screen {monitor}"
        self._rect: dict[str, int] = {}

    def __enter__(self) -> ScreenSource:
        monitors = self._sct().monitors
        if self.region is None:
            if not 0 <= self.monitor < len(monitors):
                raise SourceError(
                    f"monitor {self.monitor} does not exist: this display has "
                    f"{len(monitors) - 1} monitor(s), numbered 1..{len(monitors) - 1} "
                    "(0 = all together). See `live2diff-cam devices`."
                )
            m = monitors[self.monitor]
            self._rect = {k: int(m[k]) for k in ("left", "top", "width", "height")}
        else:
            left, top, width, height = self.region
            whole = monitors[0]
            if (
                left < whole["left"]
                or top < whole["top"]
                or left + width > whole["left"] + whole["width"]
                or top + height > whole["top"] + whole["height"]
            ):
                raise SourceError(
                    f"screen region {self.region} (left, top, width, height) lies outside the "
                    f"screen ({whole['width']}x{whole['height']} at {whole['left']},"
                    f"{whole['top']}). See `live2diff-cam devices` for the monitors."
                )
            self._rect = {"left": left, "top": top, "width": width, "height": height}
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_all()

    def read(self) -> Frame:
        return self._grab(self._rect, self.name)


class WindowSource(_ScreenGrabber):
    """The screen area under a window found by its title, followed as it moves or resizes
    (its position is looked up again every `refresh_s`). Frames change size with the window.
    A window covered by another shows what covers it: this captures the screen, not the window.
    """

    def __init__(self, title: str, *, fps: float = 30.0, refresh_s: float = 0.5) -> None:
        super().__init__(fps)
        if not title:
            raise SourceError("give a window title to follow, e.g. window:Firefox")
        self.title = title
        self.name = f'window "{title}"'
        self.refresh_s = refresh_s
        self._handle = 0
        self._rect: dict[str, int] = {}
        self._bounds: dict[str, int] = {}
        self._looked_up = 0.0

    def __enter__(self) -> WindowSource:
        info = find_window(self.title)
        self._handle = info.handle
        self._bounds = dict(self._sct().monitors[0])
        self._set_rect(info.left, info.top, info.width, info.height)
        self._looked_up = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_all()

    def _set_rect(self, left: int, top: int, width: int, height: int) -> None:
        # Only the part on screen can be captured; a window dragged half off-screen is clipped.
        b = self._bounds
        x0, y0 = max(left, b["left"]), max(top, b["top"])
        x1 = min(left + width, b["left"] + b["width"])
        y1 = min(top + height, b["top"] + b["height"])
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise SourceError(
                f'window "{self.title}" is off screen or minimised. Bring it back on screen and '
                "start again."
            )
        self._rect = {"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}

    def read(self) -> Frame:
        now = time.monotonic()
        if now - self._looked_up >= self.refresh_s:
            self._looked_up = now
            info = window_geometry(self._handle)
            if info is None:
                raise SourceError(
                    f'window "{self.title}" was closed (or minimised). Open it again and '
                    "restart, or pick another source."
                )
            self._set_rect(info.left, info.top, info.width, info.height)
        return self._grab(self._rect, self.name)
