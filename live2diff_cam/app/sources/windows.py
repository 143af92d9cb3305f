"""Finding top-level windows by title and following their position on screen.

Owns the per-OS lookups: Linux/X11 through `xwininfo` (package x11-utils), Windows through
user32 (ctypes: EnumWindows, GetWindowTextW, GetWindowRect). macOS is not supported yet. Under
a Wayland session only X11 (XWayland) windows are visible to these tools. It knows nothing about
capturing pixels; `screen.WindowSource` does that with the rectangle found here.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass

from live2diff_cam.errors import SourceError

_XWININFO_TIMEOUT_S = 3.0
_TREE_LINE = re.compile(
    r'^\s*(0x[0-9a-fA-F]+) "(.*)": \(.*\)\s+(\d+)x(\d+)[+-]-?\d+[+-]-?\d+'
    r"\s+([+-]-?\d+)([+-]-?\d+)\s*$"
)


@dataclass(frozen=True)
class WindowInfo:
    """A visible top-level window: OS handle, title and its rectangle in screen pixels."""

    handle: int
    title: str
    left: int
    top: int
    width: int
    height: int


def _unsupported() -> SourceError:
    return SourceError(
        f"following a window is not supported on {platform.system()} yet. Capture the screen or "
        "a region instead (screen:x,y,w,h; see `live2diff-cam devices` for monitors)."
    )


def list_windows() -> list[WindowInfo]:
    """Visible, titled top-level windows; SourceError where this OS or session cannot list them."""
    system = platform.system()
    if system == "Linux":
        return _x11_list()
    if system == "Windows":
        return _win32_list()
    raise _unsupported()


def find_window(title: str) -> WindowInfo:
    """The window whose title is `title` (exact match first, then case-insensitive part)."""
    windows = list_windows()
    for match in (lambda w: w.title == title, lambda w: title.lower() in w.title.lower()):
        hits = [w for w in windows if match(w)]
        if hits:
            return hits[0]
    raise SourceError(
        f'no window titled "{title}" is open. Open it first; `live2diff-cam devices` lists the '
        "windows that can be followed."
    )


def window_geometry(handle: int) -> WindowInfo | None:
    """The window's current rectangle, or None when it has been closed or hidden."""
    system = platform.system()
    if system == "Linux":
        return _x11_geometry(handle)
    if system == "Windows":
        return _win32_geometry(handle)
    raise _unsupported()


# Linux / X11 ---------------------------------------------------------------------------------
def _xwininfo(*args: str) -> subprocess.CompletedProcess[str]:
    if not os.environ.get("DISPLAY"):
        raise SourceError(
            "no X11 display: $DISPLAY is not set (headless, SSH, or a pure Wayland session). "
            "Run inside a desktop session, or set DISPLAY=:0."
        )
    exe = shutil.which("xwininfo")
    if exe is None:
        raise SourceError(
            "following a window on Linux needs `xwininfo`: install it with "
            "`sudo apt install x11-utils` (Fedora: `sudo dnf install xorg-x11-utils`)."
        )
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=_XWININFO_TIMEOUT_S, check=False
    )


def _x11_list() -> list[WindowInfo]:
    # Under a window manager, titled clients are grandchildren of the root: the tree finds them.
    tree = _xwininfo("-root", "-tree")
    if tree.returncode != 0:
        raise SourceError(
            f"could not list X11 windows on display {os.environ.get('DISPLAY')}: "
            f"{tree.stderr.strip()}. Check that the display is running and reachable."
        )
    windows = []
    for line in tree.stdout.splitlines():
        match = _TREE_LINE.match(line)
        if match is None or not match.group(2):
            continue
        info = _x11_geometry(int(match.group(1), 16), title=match.group(2))
        if info is not None and info.width > 1 and info.height > 1:
            windows.append(info)
    return windows


def _x11_geometry(handle: int, title: str | None = None) -> WindowInfo | None:
    result = _xwininfo("-id", hex(handle))
    if result.returncode != 0:
        return None
    fields: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if fields.get("Map State") != "IsViewable":
        return None
    if title is None:
        header = re.search(r'Window id: 0x[0-9a-fA-F]+ "(.*)"', result.stdout)
        title = header.group(1) if header else ""
    return WindowInfo(
        handle,
        title,
        int(fields["Absolute upper-left X"]),
        int(fields["Absolute upper-left Y"]),
        int(fields["Width"]),
        int(fields["Height"]),
    )


# Windows -------------------------------------------------------------------------------------
def _win32_list() -> list[WindowInfo]:
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.windll.user32  # type: ignore[attr-defined]
    # Physical pixels, as mss captures them; otherwise scaled displays report shrunken rects.
    user32.SetProcessDPIAware()
    handles: list[int] = []
    callback_type = ctypes.WINFUNCTYPE(  # type: ignore[attr-defined]  # Windows only
        wintypes.BOOL, wintypes.HWND, wintypes.LPARAM
    )

    def collect(hwnd: int, _: int) -> bool:
        if user32.IsWindowVisible(hwnd) and user32.GetWindowTextLengthW(hwnd) > 0:
            handles.append(hwnd)
        return True

    user32.EnumWindows(callback_type(collect), 0)
    windows = [_win32_geometry(h) for h in handles]
    return [w for w in windows if w is not None and w.width > 1 and w.height > 1]


def _win32_geometry(handle: int) -> WindowInfo | None:
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.windll.user32  # type: ignore[attr-defined]
    if not user32.IsWindow(handle) or not user32.IsWindowVisible(handle):
        return None
    length = user32.GetWindowTextLengthW(handle)
    buffer = ctypes.create_unicode_buffer(length + 1)
    user32.GetWindowTextW(handle, buffer, length + 1)
    rect = wintypes.RECT()
    if not user32.GetWindowRect(handle, ctypes.byref(rect)):
        return None
    return WindowInfo(
        int(handle),
        buffer.value,
        rect.left,
        rect.top,
        rect.right - rect.left,
        rect.bottom - rect.top,
    )
