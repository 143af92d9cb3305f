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
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from live2diff_cam.app.frames import Frame, Sink, Source
from live2diff_cam.app.mailbox import Latest, MailboxClosed
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.stats import SessionStats, StatsRecorder
from live2diff_cam.errors import EngineError, Live2DiffError, SinkError, SourceError

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


EngineFactory = Callable[[EngineRequest, Callable[[float], None]], EngineLike]
"""Builds an engine for a request, on the engine thread. The second argument records one
depth-estimation time in ms (the factory wraps its depth estimator with it)."""


def _utilities() -> tuple[Callable[..., Source], Callable[..., Sink]]:
    # Imported on first use: sources/sinks pull cv2/mss/pyvirtualcam, which a session built
    # from ready objects (a test, the UI) need not load.
    from live2diff_cam.app.sinks import parse_sink_spec
    from live2diff_cam.app.sources import parse_source_spec

    return parse_source_spec, parse_sink_spec


def build_engine(request: EngineRequest, record_depth_ms: Callable[[float], None]) -> EngineLike:
    """The real engine for `request`: `load_model` + `EngineConfig` + optional depth model."""
    from live2diff_cam.engine import EngineConfig, StreamEngine, load_model

    device, dtype = _resolve_device(request.device, request.dtype)
    depth = None
    if request.depth_model is not None:
        from live2diff_cam.depth import create_depth_estimator

        estimator = create_depth_estimator(request.depth_model, device)
        depth = _TimedDepth(estimator, record_depth_ms)
    model = load_model(request.model, lora=list(request.lora) or None)
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
    """Wraps a depth estimator to record its host-side time (on CUDA: launch time, not a sync;
    syncing here would slow every frame just to measure it)."""

    def __init__(self, estimator: Callable, record_ms: Callable[[float], None]) -> None:
        self._estimator = estimator
        self._record_ms = record_ms

    def __call__(self, frames):  # type: ignore[no-untyped-def]
        start = time.perf_counter_ns()
        depth = self._estimator(frames)
        self._record_ms((time.perf_counter_ns() - start) / 1e6)
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


@dataclass
class _Pending:
    """Parameter changes queued for the engine thread, applied between frames."""

    commands: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)


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
        frame_callback: Callable[[Frame, np.ndarray | None], None] | None = None,
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
        self._frame_callback = frame_callback

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
        self._pending = _Pending()
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
        self._pending.commands.put(("prompt", prompt))

    def set_strength(self, strength: float) -> None:
        """Denoising strength in [0, 1] (0 = the input, 1 = the style)."""
        if not 0.0 <= strength <= 1.0:
            raise EngineError(f"Strength must be in [0, 1], got {strength}.")
        self._pending.commands.put(("strength", float(strength)))

    def set_depth_scale(self, scale: float) -> None:
        """Weight of the depth conditioning, >= 0."""
        if scale < 0:
            raise EngineError(f"Depth scale must be >= 0, got {scale}.")
        self._pending.commands.put(("depth_scale", float(scale)))

    def set_preset(self, preset: Preset) -> None:
        """Switch style: prompt template and strength live; a new model / LoRA reloads the
        engine (state 'loading'; the sinks show the raw input meanwhile)."""
        self._pending.commands.put(("preset", preset))

    def set_mode(self, mode: Mode | str) -> None:
        """stylized / bypass / freeze / privacy; takes effect on the next frame shown."""
        mode = Mode(mode)
        if mode != self._mode:
            log.info("mode: %s", mode.value)
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
