"""Several sinks at once behind the one Sink protocol.

Owns opening them together (all or none: a sink that fails to open closes the ones already
open), writing each frame to every sink, and closing them in reverse order. One failing sink
does not starve the others of the frame: all are written, then the first error is raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from live2diff_cam.app.frames import Frame, Sink
from live2diff_cam.errors import SinkError


class SinkGroup:
    """Fans each frame out to `sinks`, in order."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        if not sinks:
            raise SinkError("no output chosen: give at least one sink (e.g. vcam or out.mp4)")
        self.sinks = list(sinks)
        self.name = " + ".join(s.name for s in self.sinks)
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> SinkGroup:
        with contextlib.ExitStack() as stack:
            for sink in self.sinks:
                stack.enter_context(sink)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()

    def write(self, frame: Frame) -> None:
        first: SinkError | None = None
        for sink in self.sinks:
            try:
                sink.write(frame)
            except SinkError as error:
                first = first or error
        if first is not None:
            raise first
