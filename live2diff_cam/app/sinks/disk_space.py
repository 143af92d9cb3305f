"""Disk checks shared by the file sinks: the output folder exists and takes files, and the disk
keeps enough room to finalise what is being written.

`DiskGuard` decides how often to look at the free space from the bytes written since the last
look: far from the reserve it looks every few megabytes, close to it after every frame, so a
recording stops (and is finalised) before the disk is full rather than after. It knows nothing
about video formats or frames.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from live2diff_cam.errors import SinkError

# What a finalised file still needs after the last frame (an mp4 index, a PNG) and what other
# programs on the disk need: a recording stops when less than this is free.
MAX_RESERVE_BYTES = 64 * 1024 * 1024
# On a small disk (a memory card, a test tmpfs) 64 MB would be most of it: 1/16 of it suffices.
RESERVE_FRACTION = 16
# Never look less often than this many bytes: a statvfs call per frame costs microseconds.
MAX_CHECK_STEP_BYTES = 4 * 1024 * 1024
MIN_CHECK_STEP_BYTES = 16 * 1024

_MB = 1024 * 1024


def prepare_folder(folder: Path, what: Path) -> None:
    """Create `folder` if needed and prove a file can be created in it (a read-only mount or
    a folder without write permission fails here, before any frame, with the path)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SinkError(
            f"cannot write {what}: folder {folder} cannot be created ({error.strerror or error})."
            " Choose another location."
        ) from error
    try:
        # A real file, not os.access(): that answers yes for root on a read-only mount.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".live2diff-probe-") as probe:
            probe.write(b"probe")
    except OSError as error:
        raise SinkError(
            f"cannot write {what}: folder {folder} does not take new files "
            f"({error.strerror or error}). Choose another location."
        ) from error


def reserve_bytes(folder: Path) -> int:
    """The free space a recording in `folder` must leave."""
    return min(MAX_RESERVE_BYTES, shutil.disk_usage(folder).total // RESERVE_FRACTION)


class DiskGuard:
    """Raises `SinkError` once the disk holding `folder` has less than the reserve free.

    Call `check(bytes_written)` after each write with the file's size (or the bytes written
    so far); it looks at the disk only when enough has been written since the last look.
    """

    def __init__(self, folder: Path, what: Path) -> None:
        self.folder = folder
        self.what = what
        self.reserve = reserve_bytes(folder)
        self._next_check = 0

    def check(self, bytes_written: int) -> None:
        if bytes_written < self._next_check:
            return
        free = shutil.disk_usage(self.folder).free
        if free < self.reserve:
            raise SinkError(
                f"stopped writing {self.what}: the disk is full ({human_size(free)} free, "
                f"{human_size(self.reserve)} needed). Free some space or record elsewhere."
            )
        # Look again after half of what is left above the reserve has been written.
        step = min(MAX_CHECK_STEP_BYTES, max(MIN_CHECK_STEP_BYTES, (free - self.reserve) // 2))
        self._next_check = bytes_written + step


def human_size(size: int) -> str:
    """Bytes as the user reads them: '10 MB', '300 kB'."""
    if size >= _MB:
        return f"{size // _MB} MB"
    return f"{size // 1024} kB"


def file_size(path: Path) -> int:
    """`path`'s size in bytes, 0 when it does not exist (yet)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
