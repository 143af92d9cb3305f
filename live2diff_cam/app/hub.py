"""What the live session's threads share: mode, life-cycle state, mailboxes, stats, reporting.

`SessionHub` is the one object the capture, engine and output loops and `LiveSession` all hold.
Each field has one writer (noted at the field) except `mode`, which the user and a failing
engine both set; plain attribute writes are atomic, so readers on other threads need no lock.
State changes and fault messages go out through the registered callbacks from whichever thread
caused them. This module knows nothing about how frames are captured, stylised or written.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable, Sequence

from live2diff_cam.app.engine_build import EngineRequest
from live2diff_cam.app.frames import Frame, Sink, Source
from live2diff_cam.app.mailbox import Latest
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.stats import SessionStats, StatsRecorder
from live2diff_cam.errors import Live2DiffError

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often idle threads look at mode / stop changes


class Mode(str, enum.Enum):
    """What the sinks show. Only STYLIZED passes through the engine."""

    STYLIZED = "stylized"
    BYPASS = "bypass"  # the raw input, resized to the output size
    FREEZE = "freeze"  # hold the last frame shown
    PRIVACY = "privacy"  # a blank card


class SessionState(str, enum.Enum):
    """Life cycle, reported through `on_state` callbacks."""

    IDLE = "idle"
    LOADING = "loading"  # building the engine (model loading)
    WARMING_UP = "warming up"  # engine built, filling its warmup frames
    STREAMING = "streaming"  # stylized frames are coming out
    ERROR = "error"  # the engine cannot run; sinks get bypass frames
    STOPPING = "stopping"
    STOPPED = "stopped"


StateCallback = Callable[[SessionState, str], None]
StatsCallback = Callable[[SessionStats], None]
ErrorCallback = Callable[[str], None]


class SessionHub:
    """The session's shared state and its two ways out: `set_state()` and `report()`.

    Mailboxes: capture -> `engine_in` -> engine -> `engine_out` -> output, and capture -> `raw`
    -> output for the modes that bypass the engine (so they work while the engine stalls).
    `commands` carries (name, value) parameter changes to the engine thread.
    """

    def __init__(
        self, request: EngineRequest, preset: Preset | None, mode: Mode, offline: bool
    ) -> None:
        self.offline = offline
        self.mode = mode  # the user (set_mode); the engine thread when it falls back to bypass
        self.paused = False  # the user
        self.request = request  # engine thread (live parameters); the output size never changes
        self.preset = preset  # engine thread
        self.state = SessionState.IDLE  # set_state() only
        self.source_status = "idle"  # capture thread: idle / ok / retrying / ended
        self.source_name = "the video source"  # capture thread, once a source opened
        self.delay_frames = 0  # engine thread
        self.warmup_total = 0  # engine thread: frames the engine takes before its first output
        self.warmup_done = 0  # engine thread: of those, how many it has taken
        self.last_input: Frame | None = None  # capture thread
        self.last_input_ns = 0  # capture thread: when last_input arrived
        self.last_output: Frame | None = None  # output thread
        self.fatal_error: Live2DiffError | None = None  # whichever thread ends the stream
        self.failed_sinks: list[str] = []  # output thread: one message per sink that failed

        self.engine_in: Latest[Frame] = Latest()
        self.raw: Latest[Frame] = Latest()
        self.engine_out: Latest[Frame] = Latest()
        self.commands: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self.stats = StatsRecorder()

        self.stop = threading.Event()  # every loop ends soon after this is set
        self.end_input = threading.Event()  # read no more; the rest finishes as at an end
        self.capture_done = threading.Event()
        self.engine_done = threading.Event()
        self.finished = threading.Event()  # the output thread closed the sinks

        self._lock = threading.Lock()
        self.state_callbacks: list[StateCallback] = []
        self.stats_callbacks: list[StatsCallback] = []
        self.error_callbacks: list[ErrorCallback] = []

    @property
    def engine_takes_frames(self) -> bool:
        """Live: whether captured frames go to the engine. Not while it loads (that would count
        every frame as dropped); in ERROR only once the user switched back to stylized, which
        gives a failed engine another chance."""
        if self.mode is not Mode.STYLIZED:
            return False
        return self.state in (SessionState.WARMING_UP, SessionState.STREAMING, SessionState.ERROR)

    @property
    def dropped_frames(self) -> int:
        return self.engine_in.dropped + self.raw.dropped + self.engine_out.dropped

    def snapshot(self) -> SessionStats:
        return self.stats.snapshot(
            state=self.state.value,
            mode=self.mode.value,
            source_status=self.source_status,
            dropped_frames=self.dropped_frames,
            delay_frames=self.delay_frames,
            source_name=self.source_name,
            warmup_done=self.warmup_done,
            warmup_total=self.warmup_total,
        )

    def set_state(self, state: SessionState, message: str) -> None:
        with self._lock:
            ending = self.state in (SessionState.STOPPING, SessionState.STOPPED)
            # Once stopping, a worker finishing its last frame must not report 'streaming'.
            if state == self.state or (ending and state is not SessionState.STOPPED):
                return
            self.state = state
        log.info("session: %s (%s)", state.value, message)
        for callback in list(self.state_callbacks):
            call_safely(callback, state, message)

    def report(self, message: str) -> None:
        """A user-facing fault message to every `on_error` callback; the stream goes on."""
        log.warning("%s", message)
        for callback in list(self.error_callbacks):
            call_safely(callback, message)

    def fail(self, error: Live2DiffError) -> None:
        """End the stream with `error`: `run` raises it once the session stopped."""
        self.fatal_error = error
        self.report(str(error))
        self.stop.set()

    def fail_after_flush(self, error: Live2DiffError) -> None:
        """Make `error` the stream's outcome without stopping it: the caller ends its loop, and
        what is already in flight still reaches the sinks (an offline source that failed)."""
        if self.fatal_error is None:
            self.fatal_error = error
        self.report(str(error))

    def close_slots(self) -> None:
        for slot in (self.engine_in, self.raw, self.engine_out):
            slot.close()


def close_all(devices: Sequence[Source | Sink]) -> None:
    """Close every device, logging (not raising) failures so all get their chance."""
    for device in reversed(devices):
        try:
            device.__exit__(None, None, None)
        except Exception:
            log.exception("closing %s failed", getattr(device, "name", device))


def call_safely(callback: Callable, *args: object) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("a session callback raised; ignored")
