"""Single-slot "latest" mailbox that joins the session's threads.

A slow consumer skips frames instead of falling behind: `put()` overwrites an unread item and
counts it as dropped, so memory and latency stay bounded whatever the rates. `put_wait()` is the
lossless hand-off used when every frame must arrive (a video file processed offline). This
module knows nothing about frames, engines or devices.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class MailboxClosed(Exception):
    """Raised by `take()` / `put_wait()` once the mailbox is closed and holds nothing more."""


class Latest(Generic[T]):
    """Single-slot mailbox: put() overwrites and never blocks; take() waits up to timeout_s.

    Thread-safe for any number of producers and consumers. `close()` wakes every waiter; items
    already in the slot can still be taken, then `take()` raises `MailboxClosed`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.dropped = 0  # items overwritten before anyone took them
        self.put_count = 0

    def put(self, item: T) -> None:
        """Store `item`, replacing (and counting as dropped) an unread one. Never blocks."""
        with self._cond:
            if self._closed:
                return
            if self._full:
                self.dropped += 1
            self._item = item
            self._full = True
            self.put_count += 1
            self._cond.notify_all()

    def put_wait(self, item: T, timeout_s: float | None = None) -> bool:
        """Store `item` once the slot is empty (lossless). False on timeout.

        Raises `MailboxClosed` if the mailbox is closed while waiting.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: not self._full or self._closed, timeout_s):
                return False
            if self._closed:
                raise MailboxClosed
            self._item = item
            self._full = True
            self.put_count += 1
            self._cond.notify_all()
            return True

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item, waiting up to `timeout_s` (None: forever); None on timeout.

        Raises `MailboxClosed` when closed and empty.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout_s):
                return None
            if not self._full:
                raise MailboxClosed
            item = self._item
            self._item = None
            self._full = False
            self._cond.notify_all()
            return item

    def peek(self) -> T | None:
        """The unread item without taking it, or None."""
        with self._cond:
            return self._item if self._full else None

    def clear(self) -> None:
        """Forget an unread item without counting it as dropped (a stream restart)."""
        with self._cond:
            self._item = None
            self._full = False
            self._cond.notify_all()

    def close(self) -> None:
        """No more puts; wake every waiter. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
