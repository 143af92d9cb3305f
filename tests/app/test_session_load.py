"""Load test: a paced 60 FPS camera-sized source into a deliberately slow engine for 30 s.

Checks what a user would notice after an hour: memory stays flat, latency stays bounded (no
queue grows), the skipped frames are counted, parameters can be hammered from another thread,
and stop() joins everything. Not marked slow on purpose: it is the session's main guarantee.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.session import EngineRequest, LiveSession, SessionState

DURATION_S = 30.0  # long enough for a leak or a growing queue to show
FPS = 60.0
ENGINE_S = 0.05  # 20 FPS: the engine can take only a third of the frames


class PacedCamera:
    """A 640x480 source at a steady 60 FPS, like a webcam (a new buffer per frame, as cv2 gives)."""

    name = "paced camera"

    def __enter__(self) -> PacedCamera:
        self._next = time.perf_counter()
        self._index = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.released = True

    def read(self) -> Frame:
        self._next += 1.0 / FPS
        delay = self._next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        image = np.full((480, 640, 3), self._index % 256, np.uint8)
        frame = Frame(image, time.perf_counter_ns(), self._index)
        self._index += 1
        return frame


class SlowEngine:
    """Takes ENGINE_S per step, returns the previous frame (one frame of pipeline delay)."""

    delay_frames = 1

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self.steps = 0

    def step(self, frame: np.ndarray) -> np.ndarray | None:
        time.sleep(ENGINE_S)
        self.steps += 1
        out, self._previous = self._previous, np.ascontiguousarray(frame[::4, ::4])
        return out

    def pop_finished(self) -> np.ndarray | None:
        return None

    def flush(self) -> list[np.ndarray]:
        return [] if self._previous is None else [self._previous]

    def reset(self) -> None:
        self._previous = None

    def set_prompt(self, prompt: str) -> None:
        time.sleep(0.001)

    def set_strength(self, strength: float) -> None:
        time.sleep(0.001)

    def set_depth_scale(self, scale: float) -> None:
        time.sleep(0.001)


class CountingSink:
    name = "counter"

    def __init__(self) -> None:
        self.count = 0
        self.last_ns = 0
        self.monotonic = True

    def __enter__(self) -> CountingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def write(self, frame: Frame) -> None:
        self.monotonic &= frame.timestamp_ns >= self.last_ns
        self.last_ns = frame.timestamp_ns
        self.count += 1


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc for RSS")
@pytest.mark.timeout(90)
def test_60fps_into_a_slow_engine_for_30s_stays_bounded():
    engine = SlowEngine()
    sink = CountingSink()
    stats = []
    session = LiveSession(
        PacedCamera(),
        [sink],
        request=EngineRequest(model="slow", height=120, width=160),
        engine_factory=lambda request, hook: engine,
    )
    session.on_stats(stats.append)
    before = set(threading.enumerate())
    session.start()
    stop_hammer = threading.Event()

    def hammer() -> None:
        # The UI's slider dragged non-stop: parameter changes from another thread.
        i = 0
        while not stop_hammer.is_set():
            session.set_strength((i % 100) / 100)
            session.set_prompt(f"prompt {i}")
            i += 1
            time.sleep(0.005)

    hammer_thread = threading.Thread(target=hammer)
    hammer_thread.start()
    start = time.monotonic()
    rss: list[float] = []
    while time.monotonic() - start < DURATION_S:
        time.sleep(1.0)
        rss.append(rss_mb())
    stop_hammer.set()
    hammer_thread.join()
    final = session.stats()
    stop_started = time.monotonic()
    session.stop(timeout_s=5)
    stop_s = time.monotonic() - stop_started

    assert session.state is SessionState.STOPPED
    assert [t for t in threading.enumerate() if t not in before] == []  # nothing deadlocked
    assert stop_s < 2.0
    # Memory flat: after the first seconds, the resident size does not creep.
    assert max(rss[5:]) - rss[5] < 30, f"RSS grew: {rss}"
    # The camera ran at its rate; the engine at its own; the difference was counted as drops.
    assert final.frames_in > 0.9 * FPS * DURATION_S
    assert 0.6 * DURATION_S / ENGINE_S < engine.steps <= DURATION_S / ENGINE_S + 5
    assert final.dropped_frames > 0.5 * final.frames_in
    assert final.dropped_frames + engine.steps >= final.frames_in - 5
    # Latency bounded: one engine step of work plus one of pipeline delay, never a queue.
    assert final.latency_p95_ms is not None and final.latency_p95_ms < 6 * ENGINE_S * 1000
    assert all(s.latency_p95_ms is None or s.latency_p95_ms < 300 for s in stats[3:])
    assert 14 < final.output_fps < 21
    assert sink.monotonic and sink.closed
    assert len(stats) >= DURATION_S - 2
