"""Doctor's display checks: screen capture (mss can open a monitor; a display is there at
all) and the Qt platform plugin (the xcb plugin's missing system libraries, named through
dlopen). Environment, OS and probes are parameters for tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
from collections.abc import Callable, Mapping
from pathlib import Path

from live2diff_cam.app.doctor_check import Check, Status, first_line

# --- display: screen capture and Qt --------------------------------------------------------


def _count_monitors() -> int:
    import mss

    # Opened and closed here, on this thread: mss handles are thread-local on Windows.
    with mss.mss() as screen:
        return len(screen.monitors) - 1  # monitors[0] is the union of all of them


def check_screen_capture(
    system: str | None = None,
    environ: Mapping[str, str] = os.environ,
    count_monitors: Callable[[], int] = _count_monitors,
) -> Check:
    system = system or platform.system()
    display, wayland = environ.get("DISPLAY"), environ.get("WAYLAND_DISPLAY")
    if system == "Linux" and not display:
        if wayland:
            return Check(
                "screen-capture",
                Status.WARN,
                f"Wayland ({wayland}) without XWayland: mss needs X11, screen capture is off",
                "enable XWayland (DISPLAY must be set) or log in to an X11 session; camera and "
                "file sources still work",
            )
        return Check(
            "screen-capture",
            Status.WARN,
            "no display (DISPLAY and WAYLAND_DISPLAY unset): screen capture is off",
            "run inside a desktop session (mss needs X11 or XWayland); camera and file sources "
            "work headless",
        )
    try:
        monitors = count_monitors()
    except Exception as error:
        fix = "check that this user may open the display (XAUTHORITY, `xhost`)"
        if system == "Darwin":
            fix = "allow Screen Recording for this app in System Settings > Privacy & Security"
        return Check(
            "screen-capture",
            Status.WARN,
            f"mss could not open the screen: {first_line(error)}",
            fix + "; camera and file sources still work",
        )
    where = f"{monitors} monitor(s)"
    if system == "Linux":
        where += f" on X11 display {display}"
        if wayland:
            where += " (XWayland: native Wayland windows may capture black)"
    elif system == "Darwin":
        where += "; the first capture asks for Screen Recording permission"
    return Check("screen-capture", Status.OK, where)


def _qt_plugin_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "Qt" / "plugins" / "platforms", root / "plugins" / "platforms"):
        if candidate.is_dir():
            return candidate
    return None


def _dlopen_error(path: Path) -> str:
    import ctypes

    try:
        ctypes.CDLL(str(path))
    except OSError as error:
        return str(error)
    return ""


def check_qt_platform(
    system: str | None = None,
    environ: Mapping[str, str] = os.environ,
    plugin_dir: Path | bool | None = True,
    dlopen_error: Callable[[Path], str] = _dlopen_error,
) -> Check:
    """Can the GUI open a window? Asks without creating a QApplication (Qt aborts on failure)."""
    system = system or platform.system()
    forced = environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if forced in ("offscreen", "minimal"):
        return Check(
            "qt-platform",
            Status.OK,
            f"QT_QPA_PLATFORM={forced}: the GUI renders off screen (tests, no window)",
        )
    if system != "Linux":
        return Check("qt-platform", Status.OK, f"{system}: Qt uses the native platform")
    display, wayland = environ.get("DISPLAY"), environ.get("WAYLAND_DISPLAY")
    if not (forced or display or wayland):
        return Check(
            "qt-platform",
            Status.WARN,
            "no display: the GUI cannot open here",
            "use `live2diff-cam run` headless, or `xvfb-run live2diff-cam`, or run in a "
            "desktop session",
        )
    name = forced or ("wayland" if wayland and not display else "xcb")
    folder = _qt_plugin_dir() if plugin_dir is True else plugin_dir
    if not isinstance(folder, Path):
        return Check(
            "qt-platform",
            Status.WARN,
            "PySide6's platform plug-ins were not found",
            "pip install --force-reinstall PySide6-Essentials",
        )
    plugin = folder / f"libq{name}.so"
    if not plugin.exists():
        return Check(
            "qt-platform",
            Status.WARN,
            f"Qt platform {name!r} has no plug-in in {folder}",
            "unset QT_QPA_PLATFORM or set it to xcb, wayland or offscreen",
        )
    error = dlopen_error(plugin)
    if error:
        return Check(
            "qt-platform",
            Status.WARN,
            f"Qt platform {name!r} cannot load: {error}",
            "install Qt's X11/EGL runtime libraries, e.g. on Debian/Ubuntu: sudo apt install "
            "libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libegl1 libgl1 "
            "libfontconfig1 libdbus-1-3",
        )
    return Check("qt-platform", Status.OK, f"Qt platform {name!r} loads ({plugin.name})")
