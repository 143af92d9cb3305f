"""The frame type that travels between sources, the session and sinks, and their protocols.

A source produces `Frame`s, a sink consumes them. Both are context managers: `__enter__` opens the
device (and raises `SourceError` / `SinkError` with the fix when it cannot), `__exit__` releases
it. This module knows nothing about cameras, screens, files or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One video frame. `image`: (H, W, 3) uint8 RGB, C-contiguous.

    `timestamp_ns` is the capture time on `time.perf_counter_ns()`'s clock, so latency is
    `perf_counter_ns() - timestamp_ns` at the sink. `index` counts frames from the source's start.
    """

    image: np.ndarray
    timestamp_ns: int
    index: int

    def __post_init__(self) -> None:
        image = self.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}"
            )

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@runtime_checkable
class Source(Protocol):
    """Yields frames. `read()` blocks until the next frame; raises `SourceError` when it fails
    and `EOFError` at the end of a finite source (a file without loop)."""

    name: str

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc: object) -> None: ...

    def read(self) -> Frame: ...


@runtime_checkable
class Sink(Protocol):
    """Consumes frames. `write()` raises `SinkError` when the device or disk fails."""

    name: str

    def __enter__(self) -> Sink: ...

    def __exit__(self, *exc: object) -> None: ...

    def write(self, frame: Frame) -> None: ...
