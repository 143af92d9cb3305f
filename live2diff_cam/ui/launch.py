"""`live2diff-cam gui`: open the desktop window.

Owns the command's flags, the display checks (a clear line instead of a Qt abort where there
is no display or the system lacks a library Qt's X11 plugin needs), building the QApplication,
window and bridge, and the `--screenshot` / `--quit-after` exit used for docs and smoke tests.
On the first start the window opens on its set-up page and starts nothing; later starts stream
at once unless the style's models are missing. Remembered values come from and go to the
app's settings; nothing here runs model code.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from live2diff_cam.app.control.serve import add_port_argument

if TYPE_CHECKING:
    from live2diff_cam.app.control import ControlServer
    from live2diff_cam.app.presets import Preset
    from live2diff_cam.ui.main_window import MainWindow

HEADLESS_MESSAGE = (
    "live2diff-cam: no display found (DISPLAY / WAYLAND_DISPLAY unset). Stream without a window "
    "with `live2diff-cam run`, or set QT_QPA_PLATFORM=offscreen to run the window off screen."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model for every preset (e.g. tiny)")
    parser.add_argument("--preset", default=None, help="preset to start with (default: last)")
    parser.add_argument(
        "--source", default=None, help="camera:N, screen[:N|X,Y,W,H], window:TITLE or a file"
    )
    parser.add_argument(
        "--height", type=int, default=None, help="output height in pixels (default: remembered)"
    )
    parser.add_argument(
        "--width", type=int, default=None, help="output width in pixels (default: remembered)"
    )
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto")
    parser.add_argument(
        "--no-start", action="store_true", help="open the window without starting the stream"
    )
    parser.add_argument(
        "--screenshot", type=Path, default=None, metavar="PNG", help="save the window as PNG"
    )
    add_port_argument(parser)
    parser.add_argument(
        "--quit-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="quit after this many seconds (with --screenshot: take it, then quit)",
    )


def has_display(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """True where Qt can open a window: a display server, or a platform plugin chosen
    explicitly (offscreen, vnc ...). Windows and macOS always have one."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return True
    return any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def _ldd(path: Path) -> str:
    try:
        return subprocess.run(
            ["ldd", str(path)], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""  # no ldd: let Qt try, it says what it misses itself


def apt_package(library: str) -> str:
    """The Debian/Ubuntu package of a shared library: libxcb-cursor.so.0 -> libxcb-cursor0,
    libxkbcommon-x11.so.0 -> libxkbcommon-x11-0 (a dash when the name ends in a digit)."""
    name, _, version = library.partition(".so")
    version = version.lstrip(".").split(".")[0]
    joiner = "-" if name[-1:].isdigit() and version else ""
    return f"{name}{joiner}{version}".lower()


def missing_qt_libraries(ldd: Callable[[Path], str] = _ldd) -> list[str]:
    """System libraries Qt's X11 plugin needs and cannot find (Linux, X11 only): without
    them Qt aborts the process (exit 134) instead of saying what to install."""
    if not sys.platform.startswith("linux"):
        return []
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return []
    if not platform and not os.environ.get("DISPLAY"):
        return []
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return []
    return sorted(set(re.findall(r"^\s*(\S+\.so[.\d]*) => not found", ldd(plugin), re.M)))


def missing_libraries_message(libraries: list[str]) -> str:
    packages = " ".join(dict.fromkeys(apt_package(lib) for lib in libraries))
    return (
        f"live2diff-cam: Qt cannot open a window: missing system libraries "
        f"{', '.join(libraries)}. Install them with: sudo apt install {packages}"
    )


def main(args: argparse.Namespace) -> int:
    if not has_display():
        print(HEADLESS_MESSAGE, file=sys.stderr)
        return 1
    missing = missing_qt_libraries()
    if missing:
        print(missing_libraries_message(missing), file=sys.stderr)
        return 1
    if args.quit_after is not None and args.quit_after <= 0:
        print("live2diff-cam: error: --quit-after must be positive seconds.", file=sys.stderr)
        return 2

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from live2diff_cam.app import settings as app_settings
    from live2diff_cam.app.devices import collect
    from live2diff_cam.app.presets import load_presets
    from live2diff_cam.app.sinks import virtual_camera_status
    from live2diff_cam.ui import theme
    from live2diff_cam.ui.bridge import SessionBridge, StreamOptions
    from live2diff_cam.ui.download_dialog import needed_models
    from live2diff_cam.ui.main_window import MainWindow

    try:
        # Validates the flags before any window opens; the window adds the remembered choice.
        StreamOptions(height=args.height or 512, width=args.width or 512)
    except ValueError as error:
        print(f"live2diff-cam: error: {error}", file=sys.stderr)
        return 2

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Live2Diff Camera")
    app.setOrganizationName("live2diff-cam")
    theme.apply_theme(app)
    # Closing to the tray must not end the program.
    app.setQuitOnLastWindowClosed(False)

    presets = load_presets(app_settings.user_presets_path())
    settings_problem = None
    try:
        settings = app_settings.load_settings()
    except app_settings.SettingsError as error:
        # A damaged file must not keep the window shut: start from defaults and say so.
        settings, settings_problem = app_settings.Settings(), str(error)
    if args.preset is not None:
        if args.preset not in presets:
            known = ", ".join(presets)
            print(
                f"live2diff-cam: error: unknown preset {args.preset!r} ({known}).", file=sys.stderr
            )
            return 2
        settings = settings.with_changes(preset=args.preset)
    if args.source is not None:
        settings = settings.with_changes(source=args.source)
    if args.model is not None:
        settings = settings.with_changes(model=args.model)
    if args.height is not None or args.width is not None:
        width, _, height = settings.resolution.partition("x")
        settings = settings.with_changes(
            resolution=f"{args.width or width}x{args.height or height}"
        )
    first_run = not settings.setup_done and not args.model
    window = MainWindow(
        SessionBridge(StreamOptions(device=args.device)),
        presets,
        settings,
        needs_check=needed_models,
        first_run=first_run,
        device_lister=lambda: collect(max_cameras=10),
        vcam_status=virtual_camera_status,
        save_settings=lambda chosen: app_settings.save_settings(chosen),
    )
    if settings_problem is not None:
        window.show_error(settings_problem)
    window.quitting.connect(app.quit, Qt.ConnectionType.QueuedConnection)
    control = _serve_control(window, presets, args.control_port, settings.control_port)
    window.show()
    outcome = {"code": 0}
    if not args.no_start and not first_run:
        QTimer.singleShot(0, window.start_streaming)
    if args.quit_after is not None:

        def finish() -> None:
            if args.screenshot is not None:
                outcome["code"] = _save_screenshot(window, args.screenshot)
            window.quit_app()

        QTimer.singleShot(int(args.quit_after * 1000), finish)
    elif args.screenshot is not None:
        print("live2diff-cam: error: --screenshot needs --quit-after SECONDS.", file=sys.stderr)
        window.quit_app()
        return 2
    app.exec()
    if control is not None:
        control.close()
    if window.engine_still_running:
        # Settings are saved and devices closed; only an engine step is left, inside torch.
        # Interpreter shutdown would abort on it ("terminate called ..."): end here instead.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome["code"])
    window.deleteLater()
    return outcome["code"]


def _save_screenshot(window: object, path: Path) -> int:
    from PySide6.QtWidgets import QWidget

    assert isinstance(window, QWidget)
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG"):
        print(f"live2diff-cam: error: could not write the screenshot {path}.", file=sys.stderr)
        return 1
    print(f"screenshot: {path}")
    return 0


def _serve_control(
    window: MainWindow, presets: Mapping[str, Preset], flag: int | None, setting: int
) -> ControlServer | None:
    """The control API for OBS (docs/OBS.md) when `--control-port` or the setting asks for it;
    a port that cannot be served is shown in the window, which works on without it."""
    from live2diff_cam.app.control import ControlError
    from live2diff_cam.app.control.serve import serve_control
    from live2diff_cam.ui.remote import WindowControl

    try:
        return serve_control(WindowControl(window, presets), setting if flag is None else flag)
    except ControlError as error:
        window.show_error(str(error))
        return None
