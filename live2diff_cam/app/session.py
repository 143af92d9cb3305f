"""The live session: capture thread -> engine thread -> output thread -> sinks.

`LiveSession` owns the threads, the single-slot mailboxes between them, the stats and the
engine's life cycle (built on the engine thread: model loading can take minutes). It is what
the `run` command and the UI drive. It does not know Qt, argument parsing or file formats.

Threads (all plain `threading.Thread`, joined on `stop()`):

- capture: opens the source (on this thread: `mss` handles are thread-local on Windows), reads
  frames, retries with back-off when the source fails, and puts each frame in a `Latest` slot.
- engine: builds the engine, applies queued parameter changes between frames, runs
  `StreamEngine.step()` and drains `pop_finished()`.
- output: picks what the sinks see by mode and writes it. In bypass / privacy / freeze it reads
  the capture slot directly, so those modes work even when the engine stalls. Sinks are opened
  and written here only, so a slow sink never blocks the engine.
- stats: calls the stats callbacks once per `stats_interval_s`.

Live sources use lossy slots (a slow engine skips frames; drops are counted). Offline mode
(`offline=True`, for files) is lossless: exactly one output per input frame, in order, and the
file is read as fast as the engine goes.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame, Sink, Source
from live2diff_cam.app.mailbox import Latest, MailboxClosed
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.stats import SessionStats, StatsRecorder
from live2diff_cam.errors import EngineError, Live2DiffError, ModelLoadError, SourceError

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often idle threads look at mode / stop changes
ERROR_LIMIT = 10  # engine failures in a row before the session falls back to bypass


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


class EngineLike(Protocol):
    """The part of `live2diff_cam.engine.StreamEngine` the session uses."""

    delay_frames: int

    def step(self, frame: np.ndarray) -> np.ndarray | None: ...

    def pop_finished(self) -> np.ndarray | None: ...

    def flush(self) -> list[np.ndarray]: ...

    def reset(self) -> None: ...

    def set_prompt(self, prompt: str) -> None: ...

    def set_strength(self, strength: float) -> None: ...

    def set_depth_scale(self, scale: float) -> None: ...


@dataclass(frozen=True)
class EngineRequest:
    """What engine to build: the model (from the preset) and the engine's settings.

    `model`: "tiny" | "sd15-random" | hub id | folder | file. `prompt` is the full prompt
    (a preset's template already applied). `depth_model`: ONNX file / hub id, or None.
    `negative_prompt` is carried for the UI and for engines with guidance; the LCM engine
    runs at guidance 1, where a negative prompt has no effect, so `build_engine` drops it.
    """

    model: str = "tiny"
    lora: tuple[tuple[str, float], ...] = ()
    height: int = 512
    width: int = 512
    steps: int = 2
    strength: float = 0.5
    seed: int = 0
    prompt: str = ""
    negative_prompt: str = ""
    device: str = "auto"
    dtype: str = "auto"
    pipeline: bool = True
    depth_model: str | None = None
    depth_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise EngineError(f"Output size must be positive, got {self.width}x{self.height}.")
        if not 0.0 <= self.strength <= 1.0:
            raise EngineError(f"Strength must be in [0, 1], got {self.strength}.")
        if self.depth_scale < 0:
            raise EngineError(f"Depth scale must be >= 0, got {self.depth_scale}.")


DepthHook = Callable[[object, float], None]
"""Called with each depth map batch ((N, 1, H, W) tensor) and the time it took in ms."""

EngineFactory = Callable[[EngineRequest, DepthHook], EngineLike]
"""Builds an engine for a request, on the engine thread. The factory wraps its depth estimator
so every depth map reaches the hook (stats, `--save-depth`)."""


def _utilities() -> tuple[Callable[..., Source], Callable[..., Sink]]:
    # Imported on first use: sources/sinks pull cv2/mss/pyvirtualcam, which a session built
    # from ready objects (a test, the UI) need not load.
    from live2diff_cam.app.sinks import parse_sink_spec
    from live2diff_cam.app.sources import parse_source_spec

    return parse_source_spec, parse_sink_spec


def build_engine(request: EngineRequest, depth_hook: DepthHook) -> EngineLike:
    """The real engine for `request`: `load_model` + `EngineConfig` + optional depth model."""
    from live2diff_cam.engine import EngineConfig, StreamEngine, load_model

    device, dtype = _resolve_device(request.device, request.dtype)
    depth = None
    if request.depth_model is not None:
        from live2diff_cam.depth import create_depth_estimator

        estimator = create_depth_estimator(request.depth_model, device)
        depth = _TimedDepth(estimator, depth_hook)
    # Only a preset with a LoRA passes one: the loader's plain call stays the common path.
    extra = {"lora": list(request.lora)} if request.lora else {}
    model = load_model(request.model, **extra)
    config = EngineConfig(
        height=request.height,
        width=request.width,
        steps=request.steps,
        strength=request.strength,
        device=device,
        dtype=dtype,
        seed=request.seed,
        prompt=request.prompt,
        depth_scale=request.depth_scale,
        pipeline=request.pipeline,
    )
    return StreamEngine(config, model, depth_estimator=depth)


def _resolve_device(device: str, dtype: str) -> tuple[str, str]:
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "float16" if device.startswith("cuda") else "float32"
    return device, dtype


class _TimedDepth:
    """Wraps a depth estimator to pass each map and its host-side time to a hook (on CUDA that
    is launch time: a sync here would slow every frame just to measure it)."""

    def __init__(self, estimator: Callable, hook: DepthHook) -> None:
        self._estimator = estimator
        self._hook = hook

    def __call__(self, frames):  # type: ignore[no-untyped-def]
        start = time.perf_counter_ns()
        depth = self._estimator(frames)
        self._hook(depth, (time.perf_counter_ns() - start) / 1e6)
        return depth


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off when a source fails: first wait, doubling up to `max_s`. After `hold_last_s`
    without frames the sinks get a 'no signal' card instead of the last good frame."""

    first_s: float = 0.5
    max_s: float = 5.0
    hold_last_s: float = 2.0

    def __post_init__(self) -> None:
        if self.first_s <= 0 or self.max_s < self.first_s or self.hold_last_s < 0:
            raise SourceError(f"Invalid retry policy {self}: need 0 < first_s <= max_s.")


StateCallback = Callable[["SessionState", str], None]
StatsCallback = Callable[[SessionStats], None]
ErrorCallback = Callable[[str], None]


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
        self._request = request or EngineRequest()
        self._preset = preset
        self._prompt = prompt if prompt is not None else (self._request.prompt or "")
        if preset is not None:
            self._request = _apply_preset(self._request, preset, self._prompt)
        elif prompt is not None:
            self._request = replace(self._request, prompt=prompt)
        self._mode = Mode(mode)
        self._paused = False
        self._offline = offline
        self._max_frames = max_frames
        self._retry = retry or RetryPolicy()
        self._stats_interval_s = stats_interval_s
        self._error_limit = error_limit
        self._factory: EngineFactory = engine_factory or build_engine

        self._source_spec: Source | str = source
        self._sink_specs: list[Sink | str] = list(sinks)
        self._source: Source | None = None
        self._sinks: list[Sink] = []
        self._sink_changes: queue.SimpleQueue = queue.SimpleQueue()
        self._source_change: Source | str | None = None
        self._lock = threading.Lock()

        self._engine_in: Latest[Frame] = Latest()  # capture -> engine
        self._raw: Latest[Frame] = Latest()  # capture -> output (bypass/privacy/freeze)
        self._engine_out: Latest[Frame] = Latest()  # engine -> output
        self._commands: queue.SimpleQueue = queue.SimpleQueue()  # -> engine thread
        self._stats = StatsRecorder()
        self._state = SessionState.IDLE
        self._source_status = "idle"
        self._delay_frames = 0
        self._engine_ready = False  # built and not failed: frames may go to it
        self._last_input: Frame | None = None
        self._last_output: Frame | None = None
        self._last_input_ns = 0
        self._capture_done = threading.Event()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._threads: list[threading.Thread] = []
        self._state_cbs: list[StateCallback] = []
        self._stats_cbs: list[StatsCallback] = []
        self._error_cbs: list[ErrorCallback] = []
        self.fatal_error: Live2DiffError | None = None
        self._cards: dict[str, np.ndarray] = {}
        self._engine_done = threading.Event()
        self._last_emitted: Frame | None = None
        self._engine_failed = False
        self._reset_engine = False
        self._depth_callback = depth_callback

    # -- callbacks ---------------------------------------------------------------------------

    def on_state(self, callback: StateCallback) -> None:
        """Register `callback(state, message)`: called on every state change."""
        self._state_cbs.append(callback)

    def on_stats(self, callback: StatsCallback) -> None:
        """Register `callback(stats)`: called once per `stats_interval_s` while running."""
        self._stats_cbs.append(callback)

    def on_error(self, callback: ErrorCallback) -> None:
        """Register `callback(message)`: a user-facing message for each fault (source lost,
        engine failing, sink failing). The stream continues unless `state` says otherwise."""
        self._error_cbs.append(callback)

    # -- life cycle --------------------------------------------------------------------------

    def start(self, open_timeout_s: float = 30.0) -> None:
        """Open the source (on the capture thread) and the sinks, then start streaming.

        Raises `SourceError` / `SinkError` when the first open fails (nothing keeps running).
        Returns once the source is open; the engine keeps loading in the background.
        """
        if self._threads:
            raise RuntimeError("LiveSession.start() called twice; create a new session.")
        parse_source, parse_sink = (None, None)
        if isinstance(self._source_spec, str) or any(isinstance(s, str) for s in self._sink_specs):
            parse_source, parse_sink = _utilities()
        sinks: list[Sink] = []
        try:
            for spec in self._sink_specs:
                sink = parse_sink(spec) if isinstance(spec, str) else spec  # type: ignore[misc]
                sinks.append(sink.__enter__())
        except BaseException:
            _close_all(sinks)
            raise
        self._sinks = sinks
        source = (
            parse_source(self._source_spec)  # type: ignore[misc]
            if isinstance(self._source_spec, str)
            else self._source_spec
        )
        opened = threading.Event()
        open_error: list[BaseException] = []
        self._threads = [
            threading.Thread(
                target=self._capture_main,
                args=(source, opened, open_error),
                name="l2d-capture",
                daemon=True,
            ),
        ]
        self._threads[0].start()
        if not opened.wait(open_timeout_s):
            open_error.append(SourceError(f"Opening '{source.name}' took over {open_timeout_s} s."))
        if open_error:
            self._stop.set()
            self._threads[0].join(5)
            self._threads = []
            _close_all(self._sinks)
            self._sinks = []
            raise open_error[0]
        for target, name in (
            (self._engine_main, "l2d-engine"),
            (self._output_main, "l2d-output"),
            (self._stats_main, "l2d-stats"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every thread and release source and sinks (files finalised). Idempotent."""
        if not self._threads:
            return
        if not self._finished.is_set():
            self._set_state(SessionState.STOPPING, "stopping")
        self._stop.set()
        for slot in (self._engine_in, self._raw, self._engine_out):
            slot.close()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("thread %s did not stop within %.0f s", thread.name, timeout_s)
        self._threads = []
        self._set_state(SessionState.STOPPED, "stopped")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the stream ends by itself (end of file, `max_frames`, fatal error).
        True if it ended; call `stop()` afterwards to join the threads."""
        return self._finished.wait(timeout_s)

    def __enter__(self) -> LiveSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- live parameters (any thread; applied between frames) --------------------------------

    def set_prompt(self, prompt: str) -> None:
        """The subject prompt; the current preset's template wraps it."""
        self._commands.put(("prompt", prompt))

    def set_strength(self, strength: float) -> None:
        """Denoising strength in [0, 1] (0 = the input, 1 = the style)."""
        if not 0.0 <= strength <= 1.0:
            raise EngineError(f"Strength must be in [0, 1], got {strength}.")
        self._commands.put(("strength", float(strength)))

    def set_depth_scale(self, scale: float) -> None:
        """Weight of the depth conditioning, >= 0."""
        if scale < 0:
            raise EngineError(f"Depth scale must be >= 0, got {scale}.")
        self._commands.put(("depth_scale", float(scale)))

    def set_preset(self, preset: Preset) -> None:
        """Switch style: prompt template and strength live; a new model / LoRA reloads the
        engine (state 'loading'; the sinks show the raw input meanwhile)."""
        self._commands.put(("preset", preset))

    def set_mode(self, mode: Mode | str) -> None:
        """stylized / bypass / freeze / privacy; takes effect on the next frame shown."""
        mode = Mode(mode)
        if mode == self._mode:
            return
        log.info("mode: %s", mode.value)
        if mode is Mode.STYLIZED:
            # The engine's cache holds frames from before the switch: start a fresh stream,
            # and give a failed engine another chance.
            self._reset_engine = True
            self._engine_failed = False
            if self._state is SessionState.ERROR:
                self._engine_ready = True
        self._mode = mode

    def set_paused(self, paused: bool) -> None:
        """Paused: nothing new reaches the sinks (they keep the last frame); capture goes on."""
        self._paused = bool(paused)

    def set_source(self, source: Source | str) -> None:
        """Switch the input; the capture thread closes the old one and opens this one."""
        with self._lock:
            self._source_change = source

    def add_sink(self, sink: Sink | str) -> None:
        """Start writing to another sink (opened on the output thread)."""
        self._sink_changes.put(("add", sink))

    def remove_sink(self, name: str) -> None:
        """Stop writing to (and close) the sink with this `name`."""
        self._sink_changes.put(("remove", name))

    # -- what the UI reads ---------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def preset(self) -> Preset | None:
        return self._preset

    @property
    def request(self) -> EngineRequest:
        """The engine request in effect (model, size, prompt, strength ...)."""
        return self._request

    def latest_input(self) -> Frame | None:
        """The newest captured frame (for the input preview), or None."""
        return self._last_input

    def latest_output(self) -> Frame | None:
        """The newest frame given to the sinks (for the output preview), or None."""
        return self._last_output

    def stats(self) -> SessionStats:
        """A snapshot of the stream's statistics now."""
        return self._stats.snapshot(
            state=self._state.value,
            mode=self._mode.value,
            source_status=self._source_status,
            dropped_frames=self.dropped_frames,
            delay_frames=self._delay_frames,
        )

    @property
    def dropped_frames(self) -> int:
        return self._engine_in.dropped + self._raw.dropped + self._engine_out.dropped

    # -- internals: callbacks ------------------------------------------------------------------

    def _set_state(self, state: SessionState, message: str) -> None:
        with self._lock:
            ending = self._state in (SessionState.STOPPING, SessionState.STOPPED)
            # Once stopping, a worker finishing its last frame must not report 'streaming'.
            if state == self._state or (ending and state is not SessionState.STOPPED):
                return
            self._state = state
        log.info("session: %s (%s)", state.value, message)
        for callback in list(self._state_cbs):
            _call_safely(callback, state, message)

    def _report(self, message: str) -> None:
        log.warning("%s", message)
        for callback in list(self._error_cbs):
            _call_safely(callback, message)

    # -- internals: capture thread ---------------------------------------------------------------

    def _capture_main(
        self, source: Source, opened: threading.Event, open_error: list[BaseException]
    ) -> None:
        first = True
        delay = self._retry.first_s
        count = 0
        is_open = False
        try:
            while not self._stop.is_set():
                # 1. Open (first time: the caller of start() gets the error; later: retry).
                try:
                    source.__enter__()
                    is_open = True
                except Exception as error:
                    if first:
                        open_error.append(_as_source_error(error, source))
                        opened.set()
                        return
                    self._source_status = "retrying"
                    self._report(source_lost_message(source.name, error, delay))
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._retry.max_s)
                    continue
                if first:
                    first = False
                    opened.set()
                elif self._source_status != "ok":
                    self._report(source_back_message(source.name))
                self._source = source
                self._source_status = "ok"
                delay = self._retry.first_s
                # 2. Read until the source fails, ends or is switched.
                try:
                    while not self._stop.is_set():
                        change = self._take_source_change()
                        if change is not None:
                            _close_all([source])
                            is_open = False
                            source = self._resolve_source(change)
                            break
                        frame = source.read()
                        count += 1
                        self._stats.frame_in()
                        self._last_input = frame
                        self._last_input_ns = time.perf_counter_ns()
                        self._deliver(frame)
                        if self._max_frames is not None and count >= self._max_frames:
                            return
                except EOFError:
                    return
                except Exception as error:
                    _close_all([source])
                    is_open = False
                    self._source_status = "retrying"
                    self._report(source_lost_message(source.name, error, delay))
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._retry.max_s)
        finally:
            if is_open:
                _close_all([source])
            self._source_status = "ended"
            opened.set()
            self._capture_done.set()
            self._engine_in.close()
            self._raw.close()

    def _take_source_change(self) -> Source | str | None:
        with self._lock:
            change, self._source_change = self._source_change, None
        return change

    def _resolve_source(self, spec: Source | str) -> Source:
        if isinstance(spec, str):
            parse_source, _ = _utilities()
            return parse_source(spec)
        return spec

    def _deliver(self, frame: Frame) -> None:
        """Hand a captured frame on: lossless to the engine offline, else to the latest slots."""
        if self._offline:
            try:
                while not self._stop.is_set() and (
                    self._paused or not self._engine_in.put_wait(frame, _POLL_S)
                ):
                    if self._paused:
                        self._stop.wait(_POLL_S)
            except MailboxClosed:
                pass
            return
        if self._paused:
            return
        stylized = self._mode is Mode.STYLIZED
        if stylized and self._engine_ready:
            self._engine_in.put(frame)
        # The output thread shows the raw input until stylized frames come out.
        if not stylized or self._state is not SessionState.STREAMING:
            self._raw.put(frame)

    # -- internals: engine thread ----------------------------------------------------------------

    def _engine_main(self) -> None:
        engine: EngineLike | None = None
        inflight: deque[Frame] = deque()  # inputs whose outputs have not come out yet
        errors_in_row = 0
        try:
            while not self._stop.is_set():
                engine = self._apply_commands(engine, inflight)
                if engine is None and self._mode is Mode.STYLIZED and not self._engine_failed:
                    engine = self._build_engine()
                    inflight.clear()
                    if engine is None and self._offline:
                        return
                try:
                    frame = self._engine_in.take(_POLL_S)
                except MailboxClosed:
                    break
                if frame is None:
                    continue
                if self._offline and (self._mode is not Mode.STYLIZED or engine is None):
                    self._emit(self._compose(self._mode, frame))
                    continue
                if engine is None or self._mode is not Mode.STYLIZED:
                    continue  # a frame that raced a mode switch
                if self._reset_engine:
                    self._reset_engine = False
                    engine.reset()
                    inflight.clear()
                    self._engine_out.clear()
                    self._set_state(SessionState.WARMING_UP, "warming up after a mode switch")
                outputs = self._step(engine, frame, inflight)
                if outputs is None:
                    errors_in_row += 1
                    if errors_in_row >= self._error_limit:
                        self._engine_gave_up(errors_in_row)
                        errors_in_row = 0
                        if self._offline:
                            return
                    elif self._offline:
                        # One output per input even when a frame fails: repeat the last one.
                        self._emit(self._compose(Mode.FREEZE, frame))
                    continue
                errors_in_row = 0
                if not outputs:
                    continue
                if self._state is not SessionState.STREAMING:
                    self._set_state(SessionState.STREAMING, "stylized frames are coming out")
                if self._offline:
                    for output in outputs:
                        self._emit(output)
                else:
                    # Live: only the freshest output is worth showing.
                    self._engine_out.put(outputs[-1])
            if engine is not None and self._offline and not self._stop.is_set():
                self._flush(engine, inflight)
        except Exception as error:  # a bug, not a frame error: surface it, never hang
            log.exception("engine thread failed")
            self.fatal_error = _as_engine_error(error)
            self._report(str(self.fatal_error))
            self._stop.set()
        finally:
            self._engine_ready = False
            self._engine_done.set()
            self._engine_out.close()

    def _build_engine(self) -> EngineLike | None:
        request = self._request
        self._engine_ready = False
        self._set_state(SessionState.LOADING, f"loading model '{request.model}'")
        try:
            engine = self._factory(request, self._on_depth)
        except Exception as error:
            self._engine_failed = True
            message = engine_load_message(request.model, error)
            if self._offline:
                self.fatal_error = ModelLoadError(message)
                self._report(message)
                self._stop.set()
            else:
                self._mode = Mode.BYPASS
                self._set_state(SessionState.ERROR, message)
                self._report(message)
            return None
        self._delay_frames = int(getattr(engine, "delay_frames", 0))
        self._reset_engine = False
        self._engine_ready = True
        self._set_state(SessionState.WARMING_UP, f"model '{request.model}' loaded")
        return engine

    def _on_depth(self, depth: object, milliseconds: float) -> None:
        self._stats.depth_ms.add(milliseconds)
        if self._depth_callback is not None:
            self._depth_callback(depth)

    def _step(self, engine: EngineLike, frame: Frame, inflight: deque[Frame]) -> list[Frame] | None:
        """One engine step plus every finished frame; None when the engine failed on it."""
        start = time.perf_counter_ns()
        inflight.append(frame)
        try:
            images = []
            image = engine.step(frame.image)
            while image is not None:
                images.append(image)
                image = engine.pop_finished()
        except Exception as error:
            inflight.pop()
            self._stats.engine_errors += 1
            self._report(frame_error_message(frame.index, error))
            return None
        self._stats.engine_ms.add((time.perf_counter_ns() - start) / 1e6)
        return [self._pair(image, inflight) for image in images]

    def _pair(self, image: np.ndarray, inflight: deque[Frame]) -> Frame:
        # Outputs come out one per input, in input order: the oldest input in flight made it.
        source = inflight.popleft() if inflight else self._last_input
        assert source is not None, "an engine output without any input"
        return Frame(image, source.timestamp_ns, source.index)

    def _flush(self, engine: EngineLike, inflight: deque[Frame]) -> None:
        try:
            images = engine.flush()
        except Exception as error:
            self._stats.engine_errors += 1
            self._report(frame_error_message(inflight[0].index if inflight else -1, error))
            images = []
        for image in images:
            self._emit(self._pair(image, inflight))
        # Frames the engine lost (it failed to flush) still get one output each.
        while inflight:
            self._emit(self._compose(Mode.FREEZE, inflight.popleft()))

    def _engine_gave_up(self, errors: int) -> None:
        message = engine_gave_up_message(errors, self._offline)
        self._engine_ready = False
        if self._offline:
            self.fatal_error = EngineError(message)
            self._stop.set()
        else:
            self._mode = Mode.BYPASS
            self._set_state(SessionState.ERROR, message)
        self._report(message)

    def _emit(self, frame: Frame) -> None:
        """Offline hand-off to the output thread: lossless, waits while it is busy."""
        self._last_emitted = frame
        try:
            while not self._stop.is_set() and not self._engine_out.put_wait(frame, _POLL_S):
                pass
        except MailboxClosed:
            pass

    def _apply_commands(
        self, engine: EngineLike | None, inflight: deque[Frame]
    ) -> EngineLike | None:
        """Apply queued parameter changes (engine thread, between frames).

        Only the newest value of each kind is applied: a dragged slider queues dozens of
        strengths per frame and the engine needs just the last. Kinds keep the order of their
        last change, so a preset followed by a prompt applies the preset's template to it.
        """
        latest: dict[str, object] = {}
        while True:
            try:
                name, value = self._commands.get_nowait()
            except queue.Empty:
                break
            latest.pop(name, None)
            latest[name] = value
        for name, value in latest.items():
            try:
                engine = self._apply_command(engine, name, value, inflight)
            except Exception as error:
                self._report(f"Could not apply {name} = {value!r}: {error}")
        return engine

    def _apply_command(
        self, engine: EngineLike | None, name: str, value: object, inflight: deque[Frame]
    ) -> EngineLike | None:
        request = self._request
        if name == "prompt":
            self._prompt = str(value)
            full = self._preset.render(self._prompt) if self._preset else self._prompt
            self._request = replace(request, prompt=full)
            if engine is not None:
                engine.set_prompt(full)
        elif name == "strength":
            self._request = replace(request, strength=float(value))  # type: ignore[arg-type]
            if engine is not None:
                engine.set_strength(float(value))  # type: ignore[arg-type]
        elif name == "depth_scale":
            self._request = replace(request, depth_scale=float(value))  # type: ignore[arg-type]
            if engine is not None:
                engine.set_depth_scale(float(value))  # type: ignore[arg-type]
        elif name == "preset":
            assert isinstance(value, Preset)
            self._preset = value
            self._request = _apply_preset(request, value, self._prompt)
            self._engine_failed = False
            if (value.model, value.loras) != (request.model, request.lora) or engine is None:
                # Another model: drop this engine; the loop builds the new one.
                self._engine_ready = False
                inflight.clear()
                return None
            engine.set_prompt(self._request.prompt)
            engine.set_strength(self._request.strength)
        return engine

    # -- internals: output thread ----------------------------------------------------------------

    def _output_main(self) -> None:
        no_signal_shown_ns = 0
        shown_ns = 0  # capture time of the frame on screen
        try:
            while not self._stop.is_set():
                self._apply_sink_changes()
                if self._offline:
                    try:
                        frame = self._engine_out.take(_POLL_S)
                    except MailboxClosed:
                        break
                    if frame is not None:
                        self._write(frame)
                    continue
                mode = self._mode
                engine_path = mode is Mode.STYLIZED and self._state is SessionState.STREAMING
                slot = self._engine_out if engine_path else self._raw
                try:
                    frame = slot.take(_POLL_S)
                except MailboxClosed:
                    frame = None
                if frame is not None:
                    # Pipelined outputs lag the input: right after the switch from the raw
                    # input, skip those older than what is on screen (no jump back in time).
                    stale = engine_path and frame.timestamp_ns < shown_ns
                    if not self._paused and not stale:
                        self._write(frame if engine_path else self._compose(mode, frame))
                        shown_ns = frame.timestamp_ns
                    continue
                if (
                    self._capture_done.is_set()
                    and self._engine_done.is_set()
                    and self._raw.peek() is None
                    and self._engine_out.peek() is None
                ):
                    break
                # No frame: past the hold time of a failing source, show 'no signal' (1 Hz).
                now = time.perf_counter_ns()
                silent_s = (now - self._last_input_ns) / 1e9
                if (
                    self._source_status == "retrying"
                    and silent_s >= self._retry.hold_last_s
                    and now - no_signal_shown_ns >= 1e9
                    and not self._paused
                ):
                    if no_signal_shown_ns == 0:
                        self._report(
                            no_signal_message(self._source_name(), self._retry.hold_last_s)
                        )
                    no_signal_shown_ns = now
                    card = Frame(self._card("no signal"), now, -1)
                    self._write(card, measure=False)
                elif self._source_status == "ok":
                    no_signal_shown_ns = 0
        finally:
            self._apply_sink_changes()
            _close_all(self._sinks)
            self._finished.set()

    def _source_name(self) -> str:
        return getattr(self._source, "name", "the video source")

    def _write(self, frame: Frame, measure: bool = True) -> None:
        self._last_output = frame
        for sink in list(self._sinks):
            try:
                sink.write(frame)
            except Exception as error:
                self._sinks.remove(sink)
                _close_all([sink])
                self._report(sink_failed_message(sink.name, error))
        if measure:
            self._stats.frame_out(frame.timestamp_ns)

    def _apply_sink_changes(self) -> None:
        while True:
            try:
                action, value = self._sink_changes.get_nowait()
            except queue.Empty:
                return
            if action == "add":
                try:
                    if isinstance(value, str):
                        _, parse_sink = _utilities()
                        value = parse_sink(value)
                    self._sinks.append(value.__enter__())
                except Exception as error:
                    self._report(sink_failed_message(getattr(value, "name", value), error))
            else:
                for sink in [s for s in self._sinks if s.name == value]:
                    self._sinks.remove(sink)
                    _close_all([sink])

    # -- internals: frames shown without the engine ------------------------------------------------

    def _compose(self, mode: Mode, frame: Frame) -> Frame:
        """The frame the sinks get for `frame` in a mode that bypasses the engine."""
        if mode is Mode.PRIVACY:
            image = self._card("privacy")
        elif mode is Mode.FREEZE and self._held() is not None:
            image = self._held().image  # type: ignore[union-attr]
        else:
            image = fit_image(frame.image, self._request.height, self._request.width)
        return Frame(image, frame.timestamp_ns, frame.index)

    def _held(self) -> Frame | None:
        # Offline, the engine thread runs ahead of the sinks: hold what it emitted last.
        return self._last_emitted if self._offline else self._last_output

    def _card(self, kind: str) -> np.ndarray:
        card = self._cards.get(kind)
        if card is None:
            text = "No signal" if kind == "no signal" else ""
            card = make_card(self._request.height, self._request.width, text)
            self._cards[kind] = card
        return card

    # -- internals: stats thread ------------------------------------------------------------

    def _stats_main(self) -> None:
        while not self._stop.wait(self._stats_interval_s) and not self._finished.is_set():
            try:
                snapshot = self.stats()
            except Exception:
                log.exception("collecting stats failed")
                continue
            for callback in list(self._stats_cbs):
                _call_safely(callback, snapshot)


def _apply_preset(request: EngineRequest, preset: Preset, prompt: str) -> EngineRequest:
    return replace(
        request,
        model=preset.model,
        lora=preset.loras,
        prompt=preset.render(prompt),
        negative_prompt=preset.negative_prompt,
        strength=preset.strength,
    )


def _close_all(devices: Sequence[Source | Sink]) -> None:
    """Close every device, logging (not raising) failures so all get their chance."""
    for device in reversed(devices):
        try:
            device.__exit__(None, None, None)
        except Exception:
            log.exception("closing %s failed", getattr(device, "name", device))


def _call_safely(callback: Callable, *args: object) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("a session callback raised; ignored")


def fit_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop `image` to the aspect of (height, width), then resize: (height, width, 3).

    Allocates: the sinks may keep the frame (the virtual camera repeats it), so a shared buffer
    would change frames they still hold.
    """
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if h * width > w * height:  # too tall
        crop = w * height // width
        top = (h - crop) // 2
        image = image[top : top + crop]
    elif h * width < w * height:  # too wide
        crop = h * width // height
        left = (w - crop) // 2
        image = image[:, left : left + crop]
    interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=interpolation))


def make_card(height: int, width: int, text: str) -> np.ndarray:
    """A dark card, optionally with centred text; read-only (shared by every frame shown)."""
    card = np.full((height, width, 3), 24, np.uint8)
    if text:
        scale = max(width / 640.0, 0.25)
        thickness = max(1, round(2 * scale))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        origin = ((width - tw) // 2, (height + th) // 2)
        cv2.putText(
            card,
            text,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (220, 220, 220),
            thickness,
            cv2.LINE_AA,
        )
    card.flags.writeable = False
    return card


def _as_source_error(error: BaseException, source: Source) -> SourceError:
    if isinstance(error, SourceError):
        return error
    return SourceError(f"Could not open '{source.name}': {error}.")


def _as_engine_error(error: BaseException) -> Live2DiffError:
    if isinstance(error, Live2DiffError):
        return error
    return EngineError(f"The engine thread failed: {type(error).__name__}: {error}.")


# -- the messages the user sees (tests assert them verbatim) ------------------------------


def _reason(error: BaseException | str) -> str:
    return str(error).rstrip(".") or type(error).__name__


def source_lost_message(name: str, error: BaseException | str, retry_s: float) -> str:
    return (
        f"Lost the video source '{name}': {_reason(error)}. Retrying in {retry_s:.1f} s; "
        "the outputs keep the last good frame meanwhile."
    )


def source_back_message(name: str) -> str:
    return f"The video source '{name}' is back."


def no_signal_message(name: str, silent_s: float) -> str:
    return (
        f"No signal from '{name}' for {silent_s:.1f} s: the outputs show a 'No signal' card "
        "until it comes back. Check the cable, or close the app that holds the camera."
    )


def frame_error_message(index: int, error: BaseException | str) -> str:
    return (
        f"The engine failed on frame {index}: {_reason(error)}. "
        "The stream goes on with the last good output."
    )


def engine_gave_up_message(errors: int, offline: bool) -> str:
    if offline:
        return (
            f"The engine failed on {errors} frames in a row; stopped. "
            "Run with --debug to see why, or try another --model or --device."
        )
    return (
        f"The engine failed on {errors} frames in a row, so the output switched to bypass "
        "(the raw input). Pick another preset or model, then switch back to stylized."
    )


def engine_load_message(model: str, error: BaseException | str) -> str:
    return f"Could not load the model '{model}': {_reason(error)}."


def sink_failed_message(name: object, error: BaseException | str) -> str:
    return f"The output '{name}' failed and was closed: {_reason(error)}. The others go on."
