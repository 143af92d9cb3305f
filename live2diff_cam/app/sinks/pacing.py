"""Constant-rate output from frames that arrive at any rate: the one way this app paces a sink.

The engine delivers frames at its own, uneven rate and size; a webcam and a video file both
need a steady `fps` at one size. `PacedFrames` decouples the two:

- `write(frame)` (any one thread at a time, any size) letterboxes the frame into a
  preallocated buffer and publishes it. It never blocks on the device or the disk.
- `run(send, stop)`, on the output's own thread, sends one image every 1/fps: the newest frame
  (repeated between arrivals), a "starting" card before the first one, and a "no signal" card
  when none came for `no_signal_after_s` or after `show_no_signal()`.

Three buffers rotate (writer's staging, ready, being sent), swapped under a lock, so nothing big
is allocated per frame. `PacedSink` wraps any `Sink` (the video recorder) this way, so a
recording plays back in real time: 43 s recorded at 1 FPS output is 43 s of video. This module
knows nothing about cameras, files or the session.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame, Sink
from live2diff_cam.app.sinks.letterbox import letterbox_into
from live2diff_cam.errors import SinkError

log = logging.getLogger(__name__)


class Output(enum.Enum):
    """What the pacing thread sends next."""

    STARTING = "starting"  # no frame yet since open
    FRAME = "frame"  # the latest frame (new or repeated)
    NO_SIGNAL = "no_signal"  # frames stopped, or the session said so


def choose_output(
    now_ns: int, last_frame_ns: int | None, no_signal_forced: bool, no_signal_after_ns: int
) -> Output:
    """The pacing decision, pure: which image goes out at `now_ns`."""
    if no_signal_forced:
        return Output.NO_SIGNAL
    if last_frame_ns is None:
        return Output.STARTING
    if now_ns - last_frame_ns > no_signal_after_ns:
        return Output.NO_SIGNAL
    return Output.FRAME


def render_card(width: int, height: int, title: str, subtitle: str) -> np.ndarray:
    """A dark (H, W, 3) uint8 RGB card with two centred lines of text."""
    card = np.full((height, width, 3), 24, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for text, scale_frac, y_frac, colour in (
        (title, 1 / 700, 0.47, (235, 235, 235)),
        (subtitle, 1 / 1400, 0.58, (150, 150, 150)),
    ):
        scale = max(0.3, height * scale_frac * 1.4)
        thickness = max(1, round(scale * 2))
        (text_w, _), _ = cv2.getTextSize(text, font, scale, thickness)
        origin = (max(0, (width - text_w) // 2), int(height * y_frac))
        cv2.putText(card, text, origin, font, scale, colour, thickness, cv2.LINE_AA)
    return card


class Schedule:
    """Ticks at `t0 + i / fps` on `perf_counter_ns`, without drift.

    `catch_up`: when a send ran late, the next ticks come at once until the schedule is met
    again (a recording keeps its length: the frame is repeated). Without it a late tick restarts
    the schedule from now (a live device gains nothing from a burst).
    """

    def __init__(self, fps: float, catch_up: bool) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period_ns = round(1e9 / fps)
        self.catch_up = catch_up
        self._next_ns: int | None = None

    def wait(self, stop: threading.Event) -> None:
        """Return at the next tick, or as soon as `stop` is set."""
        now = time.perf_counter_ns()
        if self._next_ns is None:
            self._next_ns = now
        self._next_ns += self.period_ns
        if now - self._next_ns > self.period_ns and not self.catch_up:
            self._next_ns = now + self.period_ns
        delay = self._next_ns - now
        if delay > 0:
            stop.wait(delay / 1e9)


class PacedFrames:
    """The latest frame at a fixed size, handed out at a constant rate by `run()`.

    `starting_card`: what goes out before the first frame; None sends nothing until then (a
    recording starts with the first real frame). `no_signal_card` goes out after
    `no_signal_after_s` without frames, or from `show_no_signal()` until the next `write()`.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        no_signal_after_s: float,
        starting_card: np.ndarray | None,
        no_signal_card: np.ndarray,
    ) -> None:
        shape = (height, width, 3)
        self.width, self.height = width, height
        self.frames_sent = 0
        self._lock = threading.Lock()
        self._staging = np.zeros(shape, np.uint8)  # written by write() outside the lock
        self._ready = np.zeros(shape, np.uint8)  # newest complete frame, swapped under the lock
        self._sending = np.zeros(shape, np.uint8)  # owned by the pacing thread
        self._fresh = False
        self._last_frame_ns: int | None = None
        self._no_signal_forced = False
        self._no_signal_after_ns = round(no_signal_after_s * 1e9)
        self._starting_card = starting_card
        self.no_signal_card = no_signal_card

    def write(self, frame: Frame) -> None:
        """Publish `frame` (any size: letterboxed) as the image to send from now on."""
        letterbox_into(frame.image, self._staging)
        with self._lock:
            self._staging, self._ready = self._ready, self._staging
            self._fresh = True
            self._last_frame_ns = time.perf_counter_ns()
            self._no_signal_forced = False

    def show_no_signal(self) -> None:
        """Send the "no signal" card from now until the next `write()`."""
        with self._lock:
            self._no_signal_forced = True

    def next_image(self) -> np.ndarray | None:
        """The image due now (pacing thread only); None before the first frame without a card."""
        with self._lock:
            output = choose_output(
                time.perf_counter_ns(),
                self._last_frame_ns,
                self._no_signal_forced,
                self._no_signal_after_ns,
            )
            if output is Output.FRAME and self._fresh:
                self._ready, self._sending = self._sending, self._ready
                self._fresh = False
        if output is Output.STARTING:
            return self._starting_card
        if output is Output.NO_SIGNAL:
            return self.no_signal_card
        return self._sending

    def run(
        self,
        send: Callable[[np.ndarray], None],
        stop: threading.Event,
        wait_for_next: Callable[[], None],
    ) -> None:
        """Send the image due at each tick until `stop`; `wait_for_next()` sleeps to the next
        tick (a device's own clock, or `Schedule.wait`). Exceptions from `send` propagate."""
        while not stop.is_set():
            image = self.next_image()
            if image is not None:
                send(image)
                self.frames_sent += 1
            wait_for_next()


# callback(sink, frames written, seconds of video) once a paced sink has closed its file.
ClosedCallback = Callable[[Sink, int, float], None]


class PacedSink:
    """Any `Sink` written at a constant `fps` and size from the latest frame, on its own thread.

    A recorder wrapped this way writes a file whose length is the wall-clock time it recorded,
    whatever rate the engine delivers at: slow outputs are repeated, bursts collapse to the
    newest. Writing starts with the first frame; a gap over `no_signal_after_s` is written as a
    "no signal" card. A failure of the inner sink is raised by the next `write()`.
    `on_closed(inner, frames, seconds)` is called once the inner sink is closed.
    """

    def __init__(
        self,
        inner: Sink,
        width: int,
        height: int,
        fps: float = 30.0,
        *,
        no_signal_after_s: float = 2.0,
        on_closed: ClosedCallback | None = None,
    ) -> None:
        if width < 16 or height < 16 or width % 2 or height % 2:
            raise SinkError(f"paced output size {width}x{height} must be even and at least 16x16")
        self.inner = inner
        self.name = inner.name
        self.fps = fps
        self._on_closed = on_closed
        self._frames = PacedFrames(
            width,
            height,
            no_signal_after_s=no_signal_after_s,
            starting_card=None,
            no_signal_card=render_card(width, height, "No signal", "waiting for video"),
        )
        self._schedule = Schedule(fps, catch_up=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: SinkError | None = None
        self._index = 0

    @property
    def frames_written(self) -> int:
        return self._frames.frames_sent

    def __enter__(self) -> PacedSink:
        self.inner.__enter__()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="paced-sink", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        try:
            self.inner.__exit__(None, None, None)
        finally:
            frames = self._frames.frames_sent
            if self._on_closed is not None:
                self._on_closed(self.inner, frames, frames / self.fps)

    def write(self, frame: Frame) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            raise SinkError(f"{self.name} is not open: use it inside `with`.")
        self._frames.write(frame)

    def _send(self, image: np.ndarray) -> None:
        self.inner.write(Frame(image, time.perf_counter_ns(), self._index))
        self._index += 1

    def _run(self) -> None:
        frames = self._frames
        try:
            # The schedule starts with the first frame: the file begins with real video.
            while not self._stop.is_set() and frames.next_image() is None:
                self._stop.wait(0.01)
            frames.run(self._send, self._stop, lambda: self._schedule.wait(self._stop))
        except SinkError as error:
            self._error = error
        except Exception as error:  # a writer bug must reach the session, not vanish
            self._error = SinkError(f"{self.name} failed: {error}")
        if self._error is not None:
            log.error("%s", self._error)
