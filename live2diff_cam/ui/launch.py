"""`live2diff-cam gui`: open the desktop window, already streaming.

Owns the command's flags, the display check (a clear line instead of a Qt abort where there
is no display), building the QApplication, window and bridge, and the `--screenshot` /
`--quit-after` exit used for docs and smoke tests. Remembered values come from and go to the
app's settings; nothing here runs model code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
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
    parser.add_argument("--height", type=int, default=512, help="output height in pixels")
    parser.add_argument("--width", type=int, default=512, help="output width in pixels")
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


def main(args: argparse.Namespace) -> int:
    if not has_display():
        print(HEADLESS_MESSAGE, file=sys.stderr)
        return 1
    if args.quit_after is not None and args.quit_after <= 0:
        print("live2diff-cam: error: --quit-after must be positive seconds.", file=sys.stderr)
        return 2

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from live2diff_cam.app import settings as app_settings
    from live2diff_cam.app.presets import load_presets
    from live2diff_cam.ui import theme
    from live2diff_cam.ui.bridge import SessionBridge, StreamOptions
    from live2diff_cam.ui.download_dialog import missing_models_downloader
    from live2diff_cam.ui.main_window import MainWindow

    try:
        options = StreamOptions(
            model=args.model, height=args.height, width=args.width, device=args.device
        )
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
    window = MainWindow(
        SessionBridge(options),
        presets,
        settings,
        model_check=missing_models_downloader,
        save_settings=lambda chosen: app_settings.save_settings(chosen),
    )
    if settings_problem is not None:
        window.show_error(settings_problem)
    window.quitting.connect(app.quit, Qt.ConnectionType.QueuedConnection)
    control = _serve_control(window, presets, args.control_port, settings.control_port)
    window.show()
    outcome = {"code": 0}
    if not args.no_start:
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
