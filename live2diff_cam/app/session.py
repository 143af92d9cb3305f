"""The live session: capture thread -> engine thread -> output thread -> sinks.

`LiveSession` is what the `run` command and the UI drive: it wires the loops together, starts
and joins their threads, and is the public API (live parameters, modes, source / sink changes,
previews, stats, callbacks). It does not know Qt, argument parsing or file formats.

Threads (all plain `threading.Thread`, joined on `stop()`), each loop in its own module:

- capture (`capture_loop`): opens the source, reads frames, retries with back-off when the
  source fails, and puts each frame in a `Latest` slot.
- engine (`engine_loop`): builds the engine (`engine_build`), applies queued parameter changes
  between frames, runs `StreamEngine.step()` and drains `pop_finished()`.
- output (`output_loop`): picks what the sinks see by mode and writes it. In bypass / privacy /
  freeze it reads the capture slot directly, so those modes work even when the engine stalls.
- stats: calls the stats callbacks once per `stats_interval_s`.

What they share (mode, state, mailboxes, stats, callbacks) lives in `hub.SessionHub`. Live
sources use lossy slots (a slow engine skips frames; drops are counted). Offline mode
(`offline=True`, for files) is lossless: exactly one output per input frame, in order, and the
file is read as fast as the engine goes.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from live2diff_cam.app.capture_loop import CaptureLoop, RetryPolicy, resolve_source
from live2diff_cam.app.compose import Composer
from live2diff_cam.app.engine_build import (
    EngineFactory,
    EngineRequest,
    build_engine,
    check_depth_scale,
    check_strength,
)
from live2diff_cam.app.engine_loop import ERROR_LIMIT, EngineLoop
from live2diff_cam.app.frames import Frame, Sink, Source
from live2diff_cam.app.hub import (
    ErrorCallback,
    Mode,
    SessionHub,
    SessionState,
    StateCallback,
    StatsCallback,
    call_safely,
)
from live2diff_cam.app.output_loop import OutputLoop
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.stats import SessionStats
from live2diff_cam.errors import Live2DiffError, SourceError

log = logging.getLogger(__name__)

# A Python thread still running PyTorch code while the interpreter tears down aborts the whole
# process ("terminate called without an active exception"). So at exit every session still
# running is stopped (its recordings finalised), and every worker `stop()` could not join in
# time (one inside a slow model load) is waited for, GUI and CLI alike.
_RUNNING: set[LiveSession] = set()  # removed by stop()
_UNFINISHED: list[threading.Thread] = []


@atexit.register
def _stop_everything_at_exit() -> None:
    for session in list(_RUNNING):
        log.info("stopping a session still running at exit")
        session.stop()
    for thread in _UNFINISHED:
        if thread.is_alive():
            log.info("waiting for %s to finish before exiting", thread.name)
            thread.join()


# The UI imports these from here; they live in the modules named above.
__all__ = [
    "EngineFactory",
    "EngineRequest",
    "LiveSession",
    "Mode",
    "RetryPolicy",
    "SessionState",
    "build_engine",
]


class LiveSession:
    """Source -> engine -> sinks on worker threads, with live parameters and stats.

    Usage::

        session = LiveSession("camera:0", ["vcam"], request=EngineRequest(model="tiny"))
        session.on_stats(print)
        session.start()                  # opens source and sinks; raises SourceError/SinkError
        session.set_strength(0.7)        # any thread; applied between frames
        session.set_mode(Mode.BYPASS)    # instant: the engine is not in that path
        frame = session.latest_output()  # the UI's preview timer pulls this
        session.stop()                   # joins every thread, releases devices

    Callbacks (`on_state`, `on_stats`, `on_error`) are called from worker threads at low rate;
    the UI relays them to Qt signals. A callback that raises is logged and ignored.

    `source`, sinks: objects following `frames.Source` / `frames.Sink`, or spec strings
    ("camera:0", "screen", "window:Title", a file, a folder; sinks: "vcam", a video file,
    a folder). `engine_factory` builds the engine on the engine thread (default: the real one).
    `offline`: lossless, one output per input (for files). `max_frames`: stop after that many
    input frames. `preset`: applied to `request` (model, LoRA, prompt template, strength).
    """

    def __init__(
        self,
        source: Source | str,
        sinks: Sequence[Sink | str] = (),
        *,
        request: EngineRequest | None = None,
        preset: Preset | None = None,
        prompt: str | None = None,
        mode: Mode | str = Mode.STYLIZED,
        engine_factory: EngineFactory | None = None,
        offline: bool = False,
        max_frames: int | None = None,
        retry: RetryPolicy | None = None,
        stats_interval_s: float = 1.0,
        error_limit: int = ERROR_LIMIT,
        depth_callback: Callable[[object], None] | None = None,
    ) -> None:
        if max_frames is not None and max_frames <= 0:
            raise SourceError(f"--frames must be positive, got {max_frames}.")
        request = request or EngineRequest()
        subject = prompt if prompt is not None else request.prompt
        if preset is not None:
            request = request.with_preset(preset, subject)
        elif prompt is not None:
            request = replace(request, prompt=prompt)
        retry = retry or RetryPolicy()
        self._hub = hub = SessionHub(request, preset, Mode(mode), offline)
        composer = Composer(request.height, request.width)
        self._capture = CaptureLoop(hub, retry, max_frames)
        self._engine = EngineLoop(
            hub, engine_factory or build_engine, composer, subject, error_limit, depth_callback
        )
        self._output = OutputLoop(hub, composer, retry)
        self._source_spec = source
        self._sink_specs = list(sinks)
        self._stats_interval_s = stats_interval_s
        self._threads: list[threading.Thread] = []
        self._background: list[threading.Thread] = []  # an engine step finishing after stop()

    # -- callbacks ---------------------------------------------------------------------------

    def on_state(self, callback: StateCallback) -> None:
        """Register `callback(state, message)`: called on every state change."""
        self._hub.state_callbacks.append(callback)

    def on_stats(self, callback: StatsCallback) -> None:
        """Register `callback(stats)`: called once per `stats_interval_s` while running."""
        self._hub.stats_callbacks.append(callback)

    def on_error(self, callback: ErrorCallback) -> None:
        """Register `callback(message)`: a user-facing message for each fault (source lost,
        engine failing, sink failing). The stream continues unless `state` says otherwise."""
        self._hub.error_callbacks.append(callback)

    # -- life cycle --------------------------------------------------------------------------

    def start(self, open_timeout_s: float = 30.0) -> None:
        """Open the source (on the capture thread) and the sinks, then start streaming.

        Raises `SourceError` / `SinkError` when the first open fails (nothing keeps running).
        Returns once the source is open; the engine keeps loading in the background.
        """
        if self._threads:
            raise RuntimeError("LiveSession.start() called twice; create a new session.")
        # A bad source spec fails before any sink is opened, so nothing needs closing.
        source = resolve_source(self._source_spec)
        self._output.open(self._sink_specs)
        opened = threading.Event()
        open_error: list[BaseException] = []
        capture = threading.Thread(
            target=self._capture.run,
            args=(source, opened, open_error),
            name="l2d-capture",
            daemon=True,
        )
        capture.start()
        if not opened.wait(open_timeout_s):
            open_error.append(SourceError(f"Opening '{source.name}' took over {open_timeout_s} s."))
        if open_error:
            self._hub.stop.set()
            capture.join(5)
            self._output.close()
            raise open_error[0]
        self._threads = [capture]
        _RUNNING.add(self)
        for target, name in (
            (self._engine.run, "l2d-engine"),
            (self._output.run, "l2d-output"),
            (self._stats_main, "l2d-stats"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0, *, engine_grace_s: float | None = None) -> None:
        """Stop every thread and release source and sinks (files finalised). Idempotent.

        `engine_grace_s`: wait at most this long for the engine thread. An engine step cannot
        be interrupted; one still running then finishes in the background (it sees the stop
        right after and ends) while the caller is already idle: `join_background()` waits
        for it, which an application must do before it exits (a thread inside torch at
        interpreter exit aborts the process). Source and sinks are closed either way.
        """
        if not self._threads:
            return
        hub = self._hub
        if not hub.finished.is_set():
            hub.set_state(SessionState.STOPPING, "stopping")
        hub.stop.set()
        hub.close_slots()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            limit = max(0.0, deadline - time.monotonic())
            if thread.name == "l2d-engine" and engine_grace_s is not None:
                thread.join(min(limit, engine_grace_s))
                if thread.is_alive():
                    log.info("the engine finishes its step in the background")
                    self._background.append(thread)
                continue
            thread.join(limit)
            if thread.is_alive():
                log.warning("thread %s did not stop within %.0f s", thread.name, timeout_s)
                _UNFINISHED.append(thread)
        self._threads = []
        _RUNNING.discard(self)
        hub.set_state(SessionState.STOPPED, "stopped")

    def join_background(self, timeout_s: float | None = None) -> bool:
        """Wait for an engine step left running by `stop(engine_grace_s=...)`; True when no
        thread of this session runs any more."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._background:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._background = [thread for thread in self._background if thread.is_alive()]
        return not self._background

    def finish_input(self) -> None:
        """Read no more input; the frames already read still reach the sinks, as at the end
        of a file (`wait()` then returns True once they have)."""
        self._hub.end_input.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the stream ends by itself (end of file, `max_frames`, fatal error).
        True if it ended; call `stop()` afterwards to join the threads."""
        return self._hub.finished.wait(timeout_s)

    def __enter__(self) -> LiveSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- live parameters (any thread; applied between frames) --------------------------------

    def set_prompt(self, prompt: str) -> None:
        """The subject prompt; the current preset's template wraps it."""
        self._hub.commands.put(("prompt", prompt))

    def set_strength(self, strength: float) -> None:
        """Denoising strength in [0, 1] (0 = the input, 1 = the style)."""
        check_strength(strength)
        self._hub.commands.put(("strength", float(strength)))

    def set_depth_scale(self, scale: float) -> None:
        """Weight of the depth conditioning, >= 0."""
        check_depth_scale(scale)
        self._hub.commands.put(("depth_scale", float(scale)))

    def set_preset(self, preset: Preset) -> None:
        """Switch style: prompt template and strength live; a new model / LoRA reloads the
        engine (state 'loading'; the sinks show the raw input meanwhile)."""
        self._hub.commands.put(("preset", preset))

    def set_mode(self, mode: Mode | str) -> None:
        """stylized / bypass / freeze / privacy; takes effect on the next frame shown."""
        mode = Mode(mode)
        if mode == self._hub.mode:
            return
        log.info("mode: %s", mode.value)
        if mode is Mode.STYLIZED:
            # The engine's cache holds frames from before the switch: start a fresh stream
            # (this also gives an engine that failed to run another chance).
            self._hub.commands.put(("restart", None))
        self._hub.mode = mode

    def set_paused(self, paused: bool) -> None:
        """Paused: nothing new reaches the sinks (they keep the last frame); capture goes on."""
        self._hub.paused = bool(paused)

    def set_source(self, source: Source | str) -> None:
        """Switch the input; the capture thread closes the old one and opens this one within
        one poll, even while the old one is failing and waiting to retry. A bad spec raises
        `SourceError` here, on the caller's thread, and the current source goes on."""
        self._capture.switch_to(resolve_source(source))

    def add_sink(self, sink: Sink | str) -> None:
        """Start writing to another sink (opened on the output thread)."""
        self._output.add(sink)

    def remove_sink(self, name: str) -> None:
        """Stop writing to (and close) the sink with this `name`."""
        self._output.remove(name)

    # -- what the UI reads ---------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._hub.state

    @property
    def mode(self) -> Mode:
        return self._hub.mode

    @property
    def paused(self) -> bool:
        return self._hub.paused

    @property
    def preset(self) -> Preset | None:
        return self._hub.preset

    @property
    def request(self) -> EngineRequest:
        """The engine request in effect (model, size, prompt, strength ...)."""
        return self._hub.request

    @property
    def fatal_error(self) -> Live2DiffError | None:
        """The error that ended the stream (bad model offline, engine bug), or None."""
        return self._hub.fatal_error

    @property
    def failed_sinks(self) -> list[str]:
        """One message per output that failed (while writing or finalising), in order."""
        return list(self._hub.failed_sinks)

    def latest_input(self) -> Frame | None:
        """The newest captured frame (for the input preview), or None."""
        return self._hub.last_input

    def latest_output(self) -> Frame | None:
        """The newest frame given to the sinks (for the output preview), or None."""
        return self._hub.last_output

    def stats(self) -> SessionStats:
        """A snapshot of the stream's statistics now."""
        return self._hub.snapshot()

    @property
    def dropped_frames(self) -> int:
        return self._hub.dropped_frames

    # -- the stats thread ----------------------------------------------------------------------

    def _stats_main(self) -> None:
        hub = self._hub
        while not hub.stop.wait(self._stats_interval_s) and not hub.finished.is_set():
            try:
                snapshot = hub.snapshot()
            except Exception:
                log.exception("collecting stats failed")
                continue
            for callback in list(hub.stats_callbacks):
                call_safely(callback, snapshot)
