"""Take the README's screenshots with the real app: run under Xvfb with a window manager.

    Xvfb :99 -screen 0 1600x1000x24 &  DISPLAY=:99 openbox &
    DISPLAY=:99 LIVE2DIFF_CAM_CONFIG_DIR=$(mktemp -d) python docs/make_screenshots.py docs/

It builds the same window `live2diff-cam gui` does (real presets, settings, device lists,
virtual camera status and model cache), drives it with timers the way a first-time user would,
and saves the X screen (window manager decorations included) at each step:

1. first-run.png: the set-up page after "Download" failed (no connection here);
2. streaming.png: the test model streaming the sample clip `again.mkv` at 256x256;
3. vcam-setup.png: "Set up the virtual camera", opened by the Virtual camera button;
4. region-picker.png: the region picker over a frozen screenshot, a region being dragged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from live2diff_cam.app.devices import collect
from live2diff_cam.app.presets import load_presets
from live2diff_cam.app.settings import Settings
from live2diff_cam.app.sinks import virtual_camera_status
from live2diff_cam.ui import theme
from live2diff_cam.ui.bridge import SessionBridge, StreamOptions
from live2diff_cam.ui.controls import RegionPicker
from live2diff_cam.ui.download_dialog import DownloadDialog, needed_models
from live2diff_cam.ui.main_window import MainWindow

CLIP = Path(__file__).resolve().parents[2] / "shared" / "assets" / "clips" / "again.mkv"


def main(out: Path) -> int:
    if not CLIP.is_file():
        print(f"the sample clip {CLIP} is missing", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Live2Diff Camera")
    theme.apply_theme(app)
    window = MainWindow(
        SessionBridge(StreamOptions(device="cpu")),
        load_presets(None),
        Settings(source=f"file:{CLIP}", sinks=()),
        needs_check=needed_models,
        first_run=True,
        device_lister=collect,
        vcam_status=virtual_camera_status,
        tray_available=False,
    )
    window.confirm_quit = lambda: True
    window.resize(1280, 760)
    window.show()

    def shot(name: str) -> None:
        path = out / name
        window.screen().grabWindow(0).save(str(path), "PNG")
        print(f"saved {path}")

    def press_download() -> None:
        window.setup_page.download_button.click()

    def close_download_dialog() -> None:
        for dialog in window.findChildren(DownloadDialog):
            dialog.reject()

    def start_test_model() -> None:
        window.setup_page.test_button.click()
        # This machine's processor is slow and shared: the smallest size, as a user would pick.
        picker = window.model_picker
        picker.size_combo.setCurrentIndex(picker.size_combo.findData("128x128"))
        picker.size_combo.activated.emit(picker.size_combo.currentIndex())

    def when_streaming(then: Callable[[], None], waited_s: int = 0) -> None:
        stats = window.bridge.stats()
        streaming = (
            window.bridge.state == "streaming"
            and window.bridge.options.width == 128
            and stats is not None
            and stats.latency_p50_ms is not None
        )
        if streaming or waited_s > 600:
            QTimer.singleShot(3000, then)
        else:
            QTimer.singleShot(1000, lambda: when_streaming(then, waited_s + 1))

    def open_vcam_setup() -> None:
        def shoot_and_close() -> None:
            shot("vcam-setup.png")
            dialog = QApplication.activeModalWidget()
            if dialog is not None:
                dialog.close()
            QTimer.singleShot(1500, open_region_picker)

        QTimer.singleShot(1500, shoot_and_close)
        window.transport.vcam_toggle.click()  # no backend here: the set-up dialog opens

    def open_region_picker() -> None:
        picker = RegionPicker.for_screen(window.screen())
        picker.show()
        picker.activateWindow()
        QTest.mousePress(picker, Qt.MouseButton.LeftButton, pos=QPoint(420, 300))
        QTest.mouseMove(picker, QPoint(1020, 640))

        def finish() -> None:
            shot("region-picker.png")
            picker.close()
            QTimer.singleShot(1000, window.quit_app)
            QTimer.singleShot(3000, app.quit)

        QTimer.singleShot(800, finish)

    def after_streaming() -> None:
        shot("streaming.png")
        QTimer.singleShot(500, open_vcam_setup)

    steps = [
        (1500, press_download),
        (12000, close_download_dialog),
        (1000, lambda: shot("first-run.png")),
        (500, start_test_model),
        (3000, lambda: when_streaming(after_streaming)),
    ]
    delay = 0
    for wait_ms, action in steps:
        delay += wait_ms
        QTimer.singleShot(delay, action)
    app.exec()
    if window.engine_still_running:  # as `live2diff-cam gui` does (see launch.main)
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs")))
