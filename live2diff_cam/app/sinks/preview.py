"""The preview sink: the latest frame in a thread-safe slot for a GUI to poll.

Owns one slot and a counter. A UI timer calls `latest_with_sequence()` and repaints only when
the sequence number moved. No Qt here: the UI layer does the drawing.
"""

from __future__ import annotations

import threading

from live2diff_cam.app.frames import Frame


class PreviewSink:
    """Keeps the newest frame. `sequence` counts frames written (0 = none yet); it only grows."""

    def __init__(self, name: str = "preview") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._sequence = 0

    def __enter__(self) -> PreviewSink:
        return self

    def __exit__(self, *exc: object) -> None:
        # The last frame stays readable: a stopped stream keeps its final picture on screen.
        return None

    def write(self, frame: Frame) -> None:
        # Frames are never modified after creation, so keeping a reference is safe (no copy).
        with self._lock:
            self._frame = frame
            self._sequence += 1

    def latest(self) -> Frame | None:
        with self._lock:
            return self._frame

    @property
    def sequence(self) -> int:
        with self._lock:
            return self._sequence

    def latest_with_sequence(self) -> tuple[int, Frame | None]:
        """Both at once, consistent with each other."""
        with self._lock:
            return self._sequence, self._frame
