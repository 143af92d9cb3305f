"""Stream statistics: frame rates, capture-to-sink latency percentiles, timings, drops.

Latency is measured on stylized frames only (a pass-through frame shown while the model loads
says nothing about the engine), and the output rate is averaged over a few seconds so a
pipelined engine that emits in bursts reads as a steady figure.

`StatsRecorder` is fed by the session's threads (thread-safe, fixed-size windows, no growth
with stream length); `SessionStats` is the immutable snapshot handed to the CLI and the UI once
a second. This module knows nothing about threads, engines or devices.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

_WINDOW = 256  # samples kept for percentiles / means: about 8 s at 30 FPS


@dataclass(frozen=True)
class SessionStats:
    """One snapshot. Times in milliseconds; None where nothing was measured yet.

    `delay_frames` is the engine's pipelining delay ((steps - 1) frames), already part of
    the latency. `gpu_memory_mb` is the CUDA peak allocation, None without CUDA. `compute` is
    "cuda" or "cpu" once torch runs the engine, "" before. `source_name` is the source that
    delivered the frames (set once it opened).
    """

    state: str
    mode: str
    source_status: str
    input_fps: float
    output_fps: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    dropped_frames: int
    frames_in: int
    frames_out: int
    engine_ms: float | None
    depth_ms: float | None
    engine_errors: int
    delay_frames: int
    gpu_memory_mb: float | None
    compute: str = ""
    source_name: str = ""
    warmup_done: int = 0
    warmup_total: int = 0

    def warmup_eta_s(self) -> float | None:
        """Seconds until the last warm-up frame at the measured step time (that last step,
        which runs the whole window at once, takes longer); None when not known."""
        if self.state != "warming up" or not self.warmup_total or self.engine_ms is None:
            return None
        left = max(self.warmup_total - 1 - self.warmup_done, 0)
        return left * self.engine_ms / 1000

    def to_json(self) -> str:
        """One JSON object on one line (the `--stats-json` format)."""
        return json.dumps(asdict(self), sort_keys=True)

    def format_line(self) -> str:
        """A one-line human summary, e.g. for `run` once a second."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f}"

        gpu = "" if self.gpu_memory_mb is None else f" gpu {self.gpu_memory_mb:.0f} MB"
        depth = "" if self.depth_ms is None else f" depth {ms(self.depth_ms)} ms"
        return (
            f"[{self.state}/{self.mode}] in {self.input_fps:.1f} fps,"
            f" out {self.output_fps:.1f} fps,"
            f" latency p50 {ms(self.latency_p50_ms)} / p95 {ms(self.latency_p95_ms)} ms"
            f" (pipeline +{self.delay_frames} frames), engine {ms(self.engine_ms)} ms{depth},"
            f" dropped {self.dropped_frames}, errors {self.engine_errors}{gpu},"
            f" source {self.source_status}"
        )


class RateMeter:
    """Events per second over the last `window_s` seconds (bounded memory)."""

    def __init__(self, window_s: float = 1.0, slow_window_s: float | None = None) -> None:
        self._window_ns = int(window_s * 1e9)
        # A rate slower than the window (an engine at 0.1 FPS) is measured over the last few
        # events within `slow_window_s` instead of reading 0 between them.
        self._slow_window_ns = int((slow_window_s or window_s) * 1e9)
        self._times: deque[int] = deque(maxlen=1024)
        self._lock = threading.Lock()
        self._first_ns: int | None = None
        self.count = 0

    def tick(self, now_ns: int | None = None) -> None:
        with self._lock:
            now = time.perf_counter_ns() if now_ns is None else now_ns
            self._times.append(now)
            self.count += 1
            if self._first_ns is None:
                self._first_ns = now

    def rate(self, now_ns: int | None = None) -> float:
        now = time.perf_counter_ns() if now_ns is None else now_ns
        with self._lock:
            keep_ns = max(self._window_ns, self._slow_window_ns)
            while self._times and now - self._times[0] > keep_ns:
                self._times.popleft()
            if self._first_ns is None:
                return 0.0
            recent = sum(1 for t in self._times if now - t <= self._window_ns)
            if recent < _SLOW_EVENTS and len(self._times) > recent:
                last = list(self._times)[-_SLOW_EVENTS:]
                return len(last) * 1e9 / max(now - last[0], 1)
            # A meter younger than its window divides by its age, not by the whole window.
            span_ns = min(self._window_ns, max(now - self._first_ns, 1))
            return recent * 1e9 / span_ns


class Window:
    """The last `size` samples of one measurement; mean and percentiles."""

    def __init__(self, size: int = _WINDOW) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(value)

    def mean(self) -> float | None:
        with self._lock:
            return sum(self._values) / len(self._values) if self._values else None

    def percentile(self, q: float) -> float | None:
        with self._lock:
            if not self._values:
                return None
            return float(np.percentile(np.fromiter(self._values, float), q))


OUTPUT_RATE_WINDOW_S = 3.0  # long enough that a pipelined engine's bursts read as one rate
SLOW_RATE_WINDOW_S = 60.0  # how far back a very slow output rate is still measured
_SLOW_EVENTS = 3


class StatsRecorder:
    """Collects what the session's threads measure; `snapshot()` makes a `SessionStats`."""

    def __init__(self) -> None:
        self.input = RateMeter()
        self.output = RateMeter(OUTPUT_RATE_WINDOW_S, SLOW_RATE_WINDOW_S)
        self.latency_ms = Window()
        self.engine_ms = Window()
        self.depth_ms = Window()
        self.engine_errors = 0

    def frame_in(self) -> None:
        self.input.tick()

    def frame_out(self, capture_ns: int, stylized: bool = True) -> None:
        """A frame reached the sinks; only a stylized one counts towards the latency."""
        now = time.perf_counter_ns()
        self.output.tick(now)
        if stylized:
            self.latency_ms.add((now - capture_ns) / 1e6)

    def snapshot(
        self,
        *,
        state: str,
        mode: str,
        source_status: str,
        dropped_frames: int,
        delay_frames: int,
        source_name: str = "",
        warmup_done: int = 0,
        warmup_total: int = 0,
    ) -> SessionStats:
        return SessionStats(
            state=state,
            mode=mode,
            source_status=source_status,
            input_fps=round(self.input.rate(), 2),
            output_fps=round(self.output.rate(), 2),
            latency_p50_ms=_round(self.latency_ms.percentile(50)),
            latency_p95_ms=_round(self.latency_ms.percentile(95)),
            dropped_frames=dropped_frames,
            frames_in=self.input.count,
            frames_out=self.output.count,
            engine_ms=_round(self.engine_ms.mean()),
            depth_ms=_round(self.depth_ms.mean()),
            engine_errors=self.engine_errors,
            delay_frames=delay_frames,
            gpu_memory_mb=gpu_memory_mb(),
            compute=compute_device(),
            source_name=source_name,
            warmup_done=warmup_done,
            warmup_total=warmup_total,
        )


def gpu_memory_mb() -> float | None:
    """Peak CUDA memory allocated by torch, in MB; None without CUDA (torch never imported here
    just to say so: a session without an engine must not pay torch's import time)."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)  # None while torch half-imported
    try:
        if cuda is None or not cuda.is_available() or not cuda.is_initialized():
            return None
        return round(cuda.max_memory_allocated() / 2**20, 1)
    except (AttributeError, RuntimeError):  # torch still importing on another thread
        return None


def compute_device() -> str:
    """ "cuda" or "cpu" once torch is loaded (the engine runs on CUDA when torch sees it), ""
    while nothing has imported torch yet; never imports it."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    if cuda is None:
        return ""
    try:
        return "cuda" if cuda.is_available() else "cpu"
    except (AttributeError, RuntimeError):  # torch still importing on another thread
        return ""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
