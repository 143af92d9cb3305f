"""The session's capture thread: open the source, read frames, retry with back-off, hand on.

`CaptureLoop.run()` opens the source on its own thread (`mss` handles are thread-local on
Windows), reads until the source ends, fails, is switched or the input is ended
(`hub.end_input`), and reopens a failed live source (camera, screen, window) with a doubling
wait (`RetryPolicy`). A file or folder that fails (`source.live` is False) ends the run with
the error instead: waiting would not bring it back. Live, each frame goes to the lossy engine /
raw slots; offline (a file) it waits for the engine's slot so nothing is dropped. It does not
know the engine or the sinks, only the hub's mailboxes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

from live2diff_cam.app.frames import Frame, Source
from live2diff_cam.app.hub import POLL_S, Mode, SessionHub, SessionState, close_all
from live2diff_cam.app.mailbox import MailboxClosed
from live2diff_cam.app.messages import (
    as_source_error,
    offline_source_failed_message,
    source_back_message,
    source_lost_message,
)
from live2diff_cam.errors import SourceError


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


def resolve_source(spec: Source | str) -> Source:
    """A source object for `spec` ("camera:0", "screen", a file ...) or `spec` itself."""
    if not isinstance(spec, str):
        return spec
    # Imported on first use: sources pull cv2/mss, which a session built from ready objects
    # (a test, the UI) need not load.
    from live2diff_cam.app.sources import parse_source_spec

    return parse_source_spec(spec)


class CaptureLoop:
    """Reads one source at a time on the capture thread; `switch_to()` from any thread."""

    def __init__(self, hub: SessionHub, retry: RetryPolicy, max_frames: int | None) -> None:
        self._hub = hub
        self._retry = retry
        self._max_frames = max_frames
        self._lock = threading.Lock()
        self._switch: Source | str | None = None
        # Wakes a retry wait: a switch away from a failing source must not sit out its back-off.
        self._switched = threading.Event()

    def switch_to(self, source: Source | str) -> None:
        """Close the current source and open this one (on the capture thread), also while the
        current one is failing and waiting to retry."""
        with self._lock:
            self._switch = source
        self._switched.set()

    def run(self, source: Source, opened: threading.Event, open_error: list[BaseException]) -> None:
        """The thread's body. Sets `opened` once the first open is done; if it failed, the
        error is in `open_error` and the thread has ended."""
        hub = self._hub
        first = True
        delay = self._retry.first_s
        count = 0
        is_open = False
        try:
            while not hub.stop.is_set():
                # 1. Open (first time: the caller of start() gets the error; later: retry).
                switch = None if first else self._take_switch()
                if switch is not None:
                    source = resolve_source(switch)
                    delay = self._retry.first_s
                try:
                    source.__enter__()
                    is_open = True
                except Exception as error:
                    if first:
                        open_error.append(as_source_error(error, source.name))
                        return
                    delay = self._wait_to_retry(source, error, delay)
                    continue
                if first:
                    first = False
                    opened.set()
                elif hub.source_status != "ok":
                    hub.report(source_back_message(source.name))
                hub.source_name = source.name
                hub.source_status = "ok"
                delay = self._retry.first_s
                # 2. Read until the source fails, ends or is switched.
                try:
                    while not hub.stop.is_set():
                        if hub.end_input.is_set():
                            return  # as at the end of a file: what was read still goes out
                        switch = self._take_switch()
                        if switch is not None:
                            close_all([source])
                            is_open = False
                            source = resolve_source(switch)
                            break
                        frame = source.read()
                        count += 1
                        hub.stats.frame_in()
                        hub.last_input = frame
                        hub.last_input_ns = time.perf_counter_ns()
                        self._deliver(frame)
                        if self._max_frames is not None and count >= self._max_frames:
                            return
                except EOFError:
                    return
                except Exception as error:
                    if not getattr(source, "live", True):
                        # A file or folder does not come back by waiting: end the run with
                        # the error once the frames already read are through.
                        hub.fail_after_flush(
                            SourceError(offline_source_failed_message(source.name, error, count))
                        )
                        return
                    close_all([source])
                    is_open = False
                    delay = self._wait_to_retry(source, error, delay)
        finally:
            if is_open:
                close_all([source])
            hub.source_status = "ended"
            opened.set()
            hub.capture_done.set()
            hub.engine_in.close()
            hub.raw.close()

    def _wait_to_retry(self, source: Source, error: Exception, delay: float) -> float:
        """Report the loss, wait `delay` (or until stop) and return the next, doubled delay."""
        self._hub.source_status = "retrying"
        self._hub.report(source_lost_message(source.name, error, delay))
        deadline = time.monotonic() + delay
        while not self._hub.stop.is_set() and not self._switched.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._switched.wait(min(remaining, POLL_S))
        return min(delay * 2, self._retry.max_s)

    def _take_switch(self) -> Source | str | None:
        with self._lock:
            switch, self._switch = self._switch, None
            self._switched.clear()
        return switch

    def _deliver(self, frame: Frame) -> None:
        """Hand a captured frame on: lossless to the engine offline, else to the latest slots."""
        hub = self._hub
        if hub.offline:
            with contextlib.suppress(MailboxClosed):  # closed: the session is stopping
                while not hub.stop.is_set() and (
                    hub.paused or not hub.engine_in.put_wait(frame, POLL_S)
                ):
                    if hub.paused:
                        hub.stop.wait(POLL_S)
            return
        if hub.paused:
            return
        stylized = hub.mode is Mode.STYLIZED
        if hub.engine_takes_frames:
            hub.engine_in.put(frame)
        # The output thread shows the raw input until stylized frames come out.
        if not stylized or hub.state is not SessionState.STREAMING:
            hub.raw.put(frame)
