"""The session's output thread: pick what the sinks see by mode and write it to every sink.

`OutputLoop.run()` takes stylized frames from the engine's slot, or, in bypass / privacy /
freeze (and until stylized frames come out), the capture slot directly, so those modes work
even when the engine stalls. Past the retry policy's hold time without input it shows a
'No signal' card. Sinks are opened, written and closed here only, so a slow sink never blocks
the engine; a sink that fails is closed and the others go on. It does not know the source or
the engine, only the hub's mailboxes.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence

from live2diff_cam.app.capture_loop import RetryPolicy
from live2diff_cam.app.compose import NO_SIGNAL, Composer
from live2diff_cam.app.frames import Frame, Sink
from live2diff_cam.app.hub import POLL_S, Mode, SessionHub, SessionState
from live2diff_cam.app.mailbox import MailboxClosed
from live2diff_cam.app.messages import (
    no_signal_message,
    no_sink_left_message,
    sink_failed_message,
)
from live2diff_cam.errors import SinkError


def resolve_sink(spec: Sink | str) -> Sink:
    """A sink object for `spec` ("vcam", a video file, a folder) or `spec` itself."""
    if not isinstance(spec, str):
        return spec
    # Imported on first use: sinks pull cv2/pyvirtualcam, which a session built from ready
    # objects (a test, the UI) need not load.
    from live2diff_cam.app.sinks import parse_sink_spec

    return parse_sink_spec(spec)


class OutputLoop:
    """Owns the open sinks. `open()` before the thread starts; `add()` / `remove()` from any
    thread (applied on the output thread)."""

    def __init__(self, hub: SessionHub, composer: Composer, retry: RetryPolicy) -> None:
        self._hub = hub
        self._composer = composer
        self._retry = retry
        self._sinks: list[Sink] = []
        self._changes: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()

    def open(self, specs: Sequence[Sink | str]) -> None:
        """Open the first sinks; on a failure close those already open and raise its error."""
        try:
            for spec in specs:
                self._sinks.append(resolve_sink(spec).__enter__())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close every sink, last opened first; a sink that cannot finalise counts as failed."""
        sinks, self._sinks = self._sinks, []
        for sink in reversed(sinks):
            self._close_one(sink)

    def _close_one(self, sink: Sink) -> None:
        try:
            sink.__exit__(None, None, None)
        except Exception as error:
            self._record_failure(sink.name, error)

    def _record_failure(self, name: object, error: BaseException) -> None:
        message = sink_failed_message(name, error)
        self._hub.failed_sinks.append(message)
        self._hub.report(message)

    def add(self, sink: Sink | str) -> None:
        self._changes.put(("add", sink))

    def remove(self, name: str) -> None:
        self._changes.put(("remove", name))

    def run(self) -> None:
        """The thread's body: until stop, or until capture and engine are done and drained."""
        hub = self._hub
        no_signal_shown_ns = 0
        shown_ns = 0  # capture time of the frame on screen
        try:
            while not hub.stop.is_set():
                self._apply_changes()
                if hub.offline:
                    try:
                        frame = hub.engine_out.take(POLL_S)
                    except MailboxClosed:
                        break
                    if frame is not None:
                        self._write(frame, stylized=hub.mode is Mode.STYLIZED)
                    continue
                mode = hub.mode
                engine_path = mode is Mode.STYLIZED and hub.state is SessionState.STREAMING
                slot = hub.engine_out if engine_path else hub.raw
                try:
                    frame = slot.take(POLL_S)
                except MailboxClosed:
                    frame = None
                if frame is not None:
                    # Pipelined outputs lag the input: right after the switch from the raw
                    # input, skip those older than what is on screen (no jump back in time).
                    stale = engine_path and frame.timestamp_ns < shown_ns
                    if not hub.paused and not stale:
                        if not engine_path:
                            frame = self._composer.compose(mode, frame, hub.last_output)
                        self._write(frame, stylized=engine_path)
                        shown_ns = frame.timestamp_ns
                    continue
                if (
                    hub.capture_done.is_set()
                    and hub.engine_done.is_set()
                    and hub.raw.peek() is None
                    and hub.engine_out.peek() is None
                ):
                    break
                # No frame: past the hold time of a failing source, show 'no signal' (1 Hz).
                now = time.perf_counter_ns()
                silent_s = (now - hub.last_input_ns) / 1e9
                if (
                    hub.source_status == "retrying"
                    and silent_s >= self._retry.hold_last_s
                    and now - no_signal_shown_ns >= 1e9
                    and not hub.paused
                ):
                    if no_signal_shown_ns == 0:
                        hub.report(no_signal_message(hub.source_name, self._retry.hold_last_s))
                    no_signal_shown_ns = now
                    self._write(Frame(self._composer.card(NO_SIGNAL), now, -1), measure=False)
                elif hub.source_status == "ok":
                    no_signal_shown_ns = 0
        finally:
            self._apply_changes()
            self.close()
            hub.finished.set()

    def _write(self, frame: Frame, measure: bool = True, stylized: bool = False) -> None:
        """Give `frame` to every sink; `measure`: count it in the output rate, `stylized`: and
        in the latency (an engine output, not a pass-through or a card)."""
        self._hub.last_output = frame
        for sink in list(self._sinks):
            try:
                sink.write(frame)
            except Exception as error:
                self._sinks.remove(sink)
                self._record_failure(sink.name, error)
                # Finalise what the sink wrote so far (a recording stays playable).
                self._close_one(sink)
                if not self._sinks:
                    # Going on would compute frames nobody keeps and end like a success.
                    self._hub.fail(SinkError(no_sink_left_message(error)))
        if measure:
            self._hub.stats.frame_out(frame.timestamp_ns, stylized)

    def _apply_changes(self) -> None:
        while True:
            try:
                action, value = self._changes.get_nowait()
            except queue.Empty:
                return
            if action == "add":
                opened: list[Sink] = []
                try:
                    opened.append(resolve_sink(value).__enter__())  # type: ignore[arg-type]
                    # The picture on screen now, at once: a sink added mid-stream (a recording
                    # at 1 FPS output) must not wait for the engine's next frame to begin.
                    if self._hub.last_output is not None:
                        opened[0].write(self._hub.last_output)
                    self._sinks.append(opened[0])
                except Exception as error:
                    for sink in opened:
                        self._close_one(sink)
                    self._record_failure(getattr(value, "name", value), error)
            else:
                for sink in [s for s in self._sinks if s.name == value]:
                    self._sinks.remove(sink)
                    self._close_one(sink)
