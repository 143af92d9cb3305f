"""Real-time pacing for sources that could deliver faster than a live device (files, screens).

Owns one idea: hand out frames on a fixed schedule `t0 + i / fps` without drifting, and without a
burst of catch-up frames after a stall (a slow consumer simply resets the schedule). It knows
nothing about where the frames come from.
"""

from __future__ import annotations

import time


class Pacer:
    """Sleeps so that successive `wait()` calls return at most `fps` times a second.

    A call that comes later than its slot returns at once and restarts the schedule from now, so
    a source paused for a second does not then emit 30 frames back to back.
    """

    def __init__(self, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period_ns = round(1e9 / fps)
        self._next_ns: int | None = None

    def reset(self) -> None:
        self._next_ns = None

    def wait(self) -> None:
        now = time.perf_counter_ns()
        if self._next_ns is None or now - self._next_ns > self.period_ns:
            # First frame, or more than one period late: start a fresh schedule from now.
            self._next_ns = now + self.period_ns
            return
        delay = self._next_ns - now
        if delay > 0:
            time.sleep(delay / 1e9)
        self._next_ns += self.period_ns
