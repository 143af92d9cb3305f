"""Keeps the process alive under a PySide6 build that drops references to None, True and False.

PySide6 / shiboken6 6.12.0 on CPython older than 3.12 hands back None from every void method
(`update()`, `setText()` ...) and a bool from every signal emit without taking the reference
it gives away. Each such call costs the singleton one reference; a streaming window makes about
750 of them a second, so after some seconds CPython aborts with "none_dealloc: deallocating
None" (measured here: ~11,000 references, gone in about 15 s of streaming). CPython 3.12 made
these objects immortal (PEP 683), which is why the binding no longer counts them.

`guard()` gives them that same property on older CPython: it adds 2**40 references to each
once, which no run can use up. It changes nothing else and does nothing where it is not
needed. The real fix is a PySide6 build without the bug, or CPython 3.12+.
"""

from __future__ import annotations

import ctypes
import platform
import sys

_RESERVE = 1 << 40
_guarded = False


def needs_guard() -> bool:
    """True on CPython < 3.12 with PySide6 6.12 (the builds measured to drop references)."""
    if platform.python_implementation() != "CPython" or sys.version_info >= (3, 12):
        return False
    import PySide6

    return tuple(PySide6.__version_info__[:2]) == (6, 12)


def guard() -> bool:
    """Make None, True and False effectively immortal where the binding needs it (once per
    process); True when the guard is in place."""
    global _guarded
    if _guarded or not needs_guard():
        return _guarded
    for singleton in (None, True, False):
        # CPython: id() is the object's address and ob_refcnt its first field.
        ctypes.c_ssize_t.from_address(id(singleton)).value += _RESERVE
    _guarded = True
    return True
