"""The signals that ask a program to stop (Ctrl-C's SIGINT, `kill`'s SIGTERM, a closed
terminal's SIGHUP) turned into one orderly stop request.

A handler that raises `KeyboardInterrupt` can interrupt the stop itself (joining threads,
finalising a recording) and leave a worker running into interpreter shutdown, which aborts the
process. These handlers only record the request; the command's main loop sees it and stops in
order. A repeated signal calls `on_repeat` (say so, or exit at once once the outputs are
closed). It knows nothing about sessions or sinks.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StopRequest:
    """Set by the first stop signal; `signum` is that signal, `count` how many came."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.event = threading.Event()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + int(self.signum or signal.SIGINT)

    @property
    def description(self) -> str:
        if self.signum in (None, signal.SIGINT):
            return "Ctrl-C"
        return signal.Signals(self.signum).name

    def request(self, signum: int) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        self.event.set()


@contextlib.contextmanager
def stop_on_signals(on_repeat: Callable[[StopRequest], None]) -> Iterator[StopRequest]:
    """While inside, SIGINT / SIGTERM / SIGHUP set the yielded request instead of killing the
    process; the previous handlers come back on exit. Outside the main thread (where Python
    cannot install handlers) the request is only set by `request()` calls."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, _frame: object) -> None:
        stop.request(signum)
        if stop.count > 1:
            on_repeat(stop)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
