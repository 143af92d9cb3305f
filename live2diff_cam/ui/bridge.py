"""The one place the UI touches the app: `SessionBridge` drives `LiveSession` for the window.

It holds what the user chose (source, preset, prompts, sliders, mode, sinks), builds a new
`LiveSession` on each start (a session runs once), and turns the session's worker-thread
callbacks into Qt signals through queued connections, so every slot runs on the Qt thread.
Blocking calls (`start()` opens the source, `stop()` joins threads) run on short-lived worker
threads; the Qt thread never waits on a device or on model code.

Knows nothing about widgets: the window connects to these signals and calls these methods.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal, Slot

from live2diff_cam.app.frames import Frame, Source
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.session import (
    EngineFactory,
    EngineRequest,
    LiveSession,
    Mode,
    SessionState,
)
from live2diff_cam.app.stats import SessionStats
from live2diff_cam.errors import Live2DiffError

log = logging.getLogger(__name__)

# The bridge's own life cycle on top of the session's states.
STARTING = "starting"
IDLE = SessionState.IDLE.value
STOPPED = SessionState.STOPPED.value
STOPPING = SessionState.STOPPING.value
BUSY_STATES = frozenset({STARTING, SessionState.LOADING.value, SessionState.WARMING_UP.value})

VCAM_SINK = "vcam"
STOP_TIMEOUT_S = 60.0
# Stop waits this long for an engine step; a longer one finishes in the background while the
# window is already idle (joined before the app exits).
ENGINE_GRACE_S = 1.0
RECORD_FPS = 30.0


@dataclass(frozen=True)
class StreamOptions:
    """What does not change while streaming: output size, device, and a model that overrides
    the preset's (`--model`). None keeps the app's defaults."""

    model: str | None = None
    height: int = 512
    width: int = 512
    device: str = "auto"
    depth_model: str | None = None
    lora: str | None = None  # a LoRA file used with `model` instead of the preset's
    vae: str | None = "taesd"  # "taesd": the fast autoencoder; None: the model's own
    steps: int = 2
    compile: bool | None = None  # "Optimize for speed"; None: on where there is a CUDA GPU
    motion_module: str | None = None  # a local motion module file; None: the released one

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0 or self.height % 8 or self.width % 8:
            raise ValueError(
                f"Output size must be positive multiples of 8, got {self.width}x{self.height}."
            )
        if not 1 <= self.steps <= 8:
            raise ValueError(f"Steps must be between 1 and 8, got {self.steps}.")


def _message(error: BaseException) -> str:
    if isinstance(error, Live2DiffError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class SessionBridge(QObject):
    """Owns the current `LiveSession` and relays its callbacks as Qt signals.

    Every parameter setter works whether or not a session runs: the value is kept and applied
    to the next session too.

    Signals:
        stateChanged(str, str): (state, message); states are the session's plus "starting".
        statsUpdated(object): a `SessionStats` about once a second while streaming.
        errorOccurred(str): a fault the user should read (source lost, engine or sink failure,
            a start that failed).
        runningChanged(bool): a session was started (True) or has fully stopped (False).
        busyChanged(bool): the engine is loading / warming up (True) or not (False).
        sinkFailed(str): the session closed a sink the user switched on: "vcam" or "record".
        recordingSaved(str, int, float): a recording was closed: (path, frames, seconds).
    """

    stateChanged = Signal(str, str)
    statsUpdated = Signal(object)
    errorOccurred = Signal(str)
    runningChanged = Signal(bool)
    busyChanged = Signal(bool)
    sinkFailed = Signal(str)
    recordingSaved = Signal(str, int, float)

    # Worker threads emit these with the session's generation; queued to the Qt thread, where
    # callbacks of a session already replaced are dropped.
    _stateRelay = Signal(int, str, str)
    _statsRelay = Signal(int, object)
    _errorRelay = Signal(int, str)
    _startedRelay = Signal(int, bool, str)
    _stoppedRelay = Signal(int)
    _recordRelay = Signal(str, int, float)

    def __init__(
        self,
        options: StreamOptions | None = None,
        engine_factory: EngineFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.options = options or StreamOptions()
        self._engine_factory = engine_factory
        self._session: LiveSession | None = None
        self._generation = 0
        self._state = IDLE
        self._busy = False
        self._workers: list[threading.Thread] = []
        self._sink_names: dict[str, str] = {}  # role ("vcam", "record") -> sink name
        # Sessions stopped while an engine step was still running: joined before exit.
        self._stopped: list[LiveSession] = []
        self._starting: dict[int, threading.Thread] = {}  # id(session) -> its start worker
        # The source asked for last, and the spec of the last one that delivered frames (what
        # the app remembers: a source that failed to open is never saved).
        self._asked_source: tuple[Source, str] | None = None
        self.working_source = ""

        self.source_spec = ""
        self.preset: Preset | None = None  # the chosen style with the options' model
        self._chosen_preset: Preset | None = None  # as chosen, before any model override
        self.prompt = ""
        self.negative_prompt = ""
        self.strength = 0.5
        self.depth_scale = 1.0
        self.seed = 0
        self.mode = Mode.STYLIZED.value
        self.vcam_enabled = False
        self.record_path: str | None = None

        queued = Qt.ConnectionType.QueuedConnection
        self._stateRelay.connect(self._on_state, queued)
        self._statsRelay.connect(self._on_stats, queued)
        self._errorRelay.connect(self._on_error, queued)
        self._startedRelay.connect(self._on_started, queued)
        self._stoppedRelay.connect(self._on_stopped, queued)
        self._recordRelay.connect(self.recordingSaved, queued)

    # -- what the window reads -----------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def running(self) -> bool:
        """A session exists (starting, streaming or failing); False once stopped."""
        return self._session is not None

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def session(self) -> LiveSession | None:
        return self._session

    def latest_frames(self) -> tuple[Frame | None, Frame | None]:
        """(newest input, newest output) for the preview timer; never blocks."""
        session = self._session
        if session is None:
            return None, None
        return session.latest_input(), session.latest_output()

    def stats(self) -> SessionStats | None:
        session = self._session
        return None if session is None else session.stats()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Build and start a session in the background; False if one is already running or
        nothing to start from (errorOccurred says why)."""
        if self._session is not None or self._state == STOPPING:
            return False
        if not self.source_spec:
            self.errorOccurred.emit("Choose a source first (camera, screen, window or file).")
            return False
        try:
            session = self._build_session()
        except Exception as error:  # a bad choice becomes a message, not a crash
            self.errorOccurred.emit(_message(error))
            return False
        self._generation += 1
        generation = self._generation
        self._session = session
        self._add_chosen_sinks()
        session.on_state(lambda s, m: self._relay("_stateRelay", generation, _value(s), m))
        session.on_stats(lambda stats: self._relay("_statsRelay", generation, stats))
        session.on_error(lambda m: self._relay("_errorRelay", generation, m))
        self._set_state(STARTING, "opening the source")
        self.runningChanged.emit(True)
        self._starting[id(session)] = self._spawn(self._start_worker, session, generation)
        return True

    def _relay(self, relay: str, *args: object) -> None:
        """Hand a session callback (from its worker threads) over to the Qt thread. A session
        can outlive the window by one engine step (a slow stop at quit): by then the bridge's
        C++ side is gone ("Signal source has been deleted") and nobody is left to tell."""
        with contextlib.suppress(RuntimeError):
            getattr(self, relay).emit(*args)

    def stop(self) -> None:
        """Stop the session in the background; runningChanged(False) follows when it is done."""
        session = self._session
        if session is None:
            return
        self._session = None
        self._generation += 1
        self._set_state(STOPPING, "stopping")
        self._spawn(self._stop_worker, session, self._generation)

    def shutdown(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop now and wait (application exit): no worker outlives the window.

        Source and sinks close at once; an engine step still running gets up to `timeout_s`
        to finish. False when one is still inside the engine after that: the caller must then
        end the process without running interpreter shutdown (`os._exit`), since a thread
        inside torch at interpreter exit aborts the process ("terminate called ...").
        """
        session, self._session = self._session, None
        self._generation += 1
        if session is not None:
            self._wait_started(session, timeout_s)
            try:
                session.stop(timeout_s, engine_grace_s=ENGINE_GRACE_S)
            except Exception:  # closing must go on whatever failed
                log.exception("stopping the session failed")
            self._stopped.append(session)
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers = []
        self._stopped = [
            stopped
            for stopped in self._stopped
            if not stopped.join_background(max(0.0, deadline - time.monotonic()))
        ]
        if self._stopped:
            log.warning("an engine step did not finish within %.0f s", timeout_s)
        self._set_busy(False)
        self._state = STOPPED
        return not self._stopped

    def restart(self) -> None:
        """Stop and start again (a setting that only a new session can apply)."""
        if self._session is None:
            return
        self.stop()
        self.runningChanged.connect(
            self._start_once_stopped, Qt.ConnectionType.SingleShotConnection
        )

    def _start_once_stopped(self, running: bool) -> None:
        if not running:
            self.start()

    # -- live parameters -----------------------------------------------------------------------

    def set_source(self, spec: str) -> None:
        """Use `spec` from now on; while streaming the switch happens within one poll, even
        away from a source that is failing. A spec that cannot be parsed is reported."""
        self.source_spec = spec
        if self._session is not None:
            try:
                source = self._make_source(spec)
            except Exception as error:
                self.errorOccurred.emit(_message(error))
                return
            self._asked_source = (source, spec)
            self._call(lambda s: s.set_source(source))

    def set_preset(self, preset: Preset) -> None:
        """Switch style; the slider takes the preset's strength (the window shows it)."""
        self._chosen_preset = preset
        preset = self._with_overrides(preset)
        self.preset = preset
        self.strength = preset.strength
        self.negative_prompt = preset.negative_prompt
        self._call(lambda s: s.set_preset(preset))

    def set_prompt(self, prompt: str) -> None:
        self.prompt = prompt
        self._call(lambda s: s.set_prompt(prompt))

    def set_negative_prompt(self, negative: str) -> None:
        """The session has no live setter for it: it rides on the preset (same model, so the
        engine does not reload), then the user's strength is re-applied."""
        self.negative_prompt = negative
        if self.preset is not None:
            self.preset = dataclasses.replace(self.preset, negative_prompt=negative)
            preset, strength = self.preset, self.strength
            self._call(lambda s: (s.set_preset(preset), s.set_strength(strength)))

    def set_strength(self, strength: float) -> None:
        self.strength = min(max(float(strength), 0.0), 1.0)
        self._call(lambda s: s.set_strength(self.strength))

    def set_depth_scale(self, scale: float) -> None:
        self.depth_scale = max(float(scale), 0.0)
        self._call(lambda s: s.set_depth_scale(self.depth_scale))

    def set_seed(self, seed: int) -> None:
        """The session fixes its seed when the engine is built: a new seed restarts it."""
        if seed == self.seed:
            return
        self.seed = int(seed)
        self.restart()

    def set_mode(self, mode: str) -> None:
        self.mode = Mode(mode).value
        self._call(lambda s: s.set_mode(self.mode))

    def set_vcam(self, enabled: bool) -> None:
        """Publish to the virtual camera or not (a failure to open it arrives as an error)."""
        self.vcam_enabled = bool(enabled)
        session = self._session
        if session is not None:
            self._swap_sink(session, "vcam", VCAM_SINK if enabled else None)

    def set_options(self, options: StreamOptions) -> None:
        """New model / size / steps; a running stream restarts to apply them."""
        if options == self.options:
            return
        self.options = options
        chosen = self._chosen_preset
        if chosen is not None:
            # The chosen style with the new model; the user's strength and negative prompt stay.
            self.preset = self._with_overrides(
                dataclasses.replace(chosen, negative_prompt=self.negative_prompt)
            )
        self.restart()

    def set_recording(self, path: str | None) -> None:
        """Record the output to `path` (a video file) at a constant RECORD_FPS from the latest
        output frame, so it plays back in real time; None stops recording (then
        recordingSaved says what was written)."""
        self.record_path = path
        session = self._session
        if session is not None:
            self._swap_sink(session, "record", path)

    def _swap_sink(self, session: LiveSession, role: str, spec: str | None) -> None:
        """Close the sink playing `role` (if any) and open `spec` in its place (if given).
        Sinks are added after the session's own, on its output thread: a missing virtual
        camera driver becomes an error message instead of a failed start."""
        from live2diff_cam.app.sinks import PacedSink, parse_sink_spec

        name = self._sink_names.pop(role, None)
        if name is not None:
            self._call(lambda s: s.remove_sink(name))
        if spec is None:
            return
        try:
            sink = parse_sink_spec(spec, fps=RECORD_FPS)
            if role == "record":
                sink = PacedSink(
                    sink,
                    self.options.width,
                    self.options.height,
                    RECORD_FPS,
                    on_closed=lambda _inner, frames, seconds, path=spec: self._recordRelay.emit(
                        path, frames, seconds
                    ),
                )
        except Exception as error:
            self.errorOccurred.emit(_message(error))
            return
        self._sink_names[role] = sink.name
        self._call(lambda s: s.add_sink(sink))

    # -- internals -----------------------------------------------------------------------------

    def _with_overrides(self, preset: Preset) -> Preset:
        options = self.options
        if options.model is not None and (
            preset.model != options.model or preset.lora != options.lora
        ):
            # `--model` replaces the preset's weights; a LoRA made for those would not fit.
            return dataclasses.replace(preset, model=options.model, lora=options.lora)
        return preset

    def _build_session(self) -> LiveSession:
        options = self.options
        request = EngineRequest(
            model=options.model or "tiny",
            height=options.height,
            width=options.width,
            device=options.device,
            depth_model=options.depth_model,
            vae=options.vae,
            compile=options.compile,
            steps=options.steps,
            motion_module=options.motion_module,
            seed=self.seed,
            strength=self.strength,
            depth_scale=self.depth_scale,
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
        )
        source = self._make_source(self.source_spec)
        self._asked_source = (source, self.source_spec)
        session = LiveSession(
            source,
            [],
            request=request,
            preset=self.preset,
            prompt=self.prompt,
            mode=self.mode,
            engine_factory=self._engine_factory,
        )
        # The preset brings its own strength; the user's slider wins (applied before frame 1).
        session.set_strength(self.strength)
        session.set_depth_scale(self.depth_scale)
        return session

    def _add_chosen_sinks(self) -> None:
        session = self._session
        if session is None:
            return
        self._sink_names = {}
        if self.vcam_enabled:
            self._swap_sink(session, "vcam", VCAM_SINK)
        if self.record_path is not None:
            self._swap_sink(session, "record", self.record_path)

    def _make_source(self, spec: str) -> Source:
        """The unopened source for `spec`. A file plays at its own rate, looping: in a window
        it stands in for a camera (the app's default reads files as fast as it can, once)."""
        from live2diff_cam.app.sources import parse_source_spec

        return parse_source_spec(spec, loop=True, realtime=True)

    def _call(self, action: Callable[[LiveSession], object]) -> None:
        session = self._session
        if session is None:
            return
        try:
            action(session)
        except Exception as error:  # shown to the user, the stream goes on
            self.errorOccurred.emit(_message(error))

    def _spawn(self, target: Callable[..., None], *args: object) -> threading.Thread:
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=target, args=args, name="l2d-ui-bridge", daemon=True)
        self._workers.append(worker)
        worker.start()
        return worker

    def _wait_started(self, session: LiveSession, timeout_s: float) -> None:
        """Let a start still opening the source finish: a stop that came first would find no
        threads to stop and leave the session running on its own."""
        starter = self._starting.pop(id(session), None)
        if starter is not None and starter is not threading.current_thread():
            starter.join(timeout_s)

    def _start_worker(self, session: LiveSession, generation: int) -> None:
        try:
            session.start()
        except Exception as error:  # relayed as a message
            self._startedRelay.emit(generation, False, _message(error))
        else:
            self._startedRelay.emit(generation, True, "")

    def _stop_worker(self, session: LiveSession, generation: int) -> None:
        self._wait_started(session, STOP_TIMEOUT_S)
        try:
            # The engine gets a short grace: a step still running finishes in the background
            # and `shutdown()` joins it before the app exits.
            session.stop(STOP_TIMEOUT_S, engine_grace_s=ENGINE_GRACE_S)
        except Exception:  # the session is gone either way
            log.exception("stopping the session failed")
        if not session.join_background(0):
            self._stopped.append(session)
        self._stoppedRelay.emit(generation)

    def _set_state(self, state: str, message: str) -> None:
        self._state = state
        self._set_busy(state in BUSY_STATES)
        self.stateChanged.emit(state, message)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)

    @Slot(int, bool, str)
    def _on_started(self, generation: int, ok: bool, message: str) -> None:
        if generation != self._generation:
            return
        if ok and self._asked_source is not None:
            self.working_source = self._asked_source[1]  # it opened: worth remembering
        if not ok:
            self._session = None
            self._set_state(STOPPED, message)
            self.errorOccurred.emit(message)
            self.runningChanged.emit(False)

    @Slot(int)
    def _on_stopped(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._set_state(STOPPED, "stopped")
        self.runningChanged.emit(False)

    @Slot(int, str, str)
    def _on_state(self, generation: int, state: str, message: str) -> None:
        if generation != self._generation:
            return
        if state == STOPPED:
            # The stream ended by itself (end of a file, a fatal error): join its threads.
            self.stop()
            return
        if state == STOPPING:
            return
        self._set_state(state, message)

    @Slot(int, object)
    def _on_stats(self, generation: int, stats: SessionStats) -> None:
        if generation != self._generation:
            return
        asked = self._asked_source
        if asked is not None and stats.source_status == "ok" and stats.source_name == asked[0].name:
            self.working_source = asked[1]
        self.statsUpdated.emit(stats)

    @Slot(int, str)
    def _on_error(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        # The session names a failed sink in its message; the toggle that opened it goes off.
        for role, name in list(self._sink_names.items()):
            if f"'{name}'" in message or f'"{name}"' in message:
                del self._sink_names[role]
                if role == "vcam":
                    self.vcam_enabled = False
                else:
                    self.record_path = None
                self.sinkFailed.emit(role)
        self.errorOccurred.emit(message)


def _value(state: object) -> str:
    return state.value if isinstance(state, SessionState) else str(state)
