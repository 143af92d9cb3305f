"""What a first-time user hits: source switching, recordings, consent, stop, figures, devices,
the virtual camera set-up, the region picker and the window's size (issue 14).

The engine here is a test double built through the bridge's engine factory (its speed is what
these tests are about); sources, sinks, the recorder and the session are the real ones.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QGuiApplication, QPixmap

from live2diff_cam.app.devices import collect
from live2diff_cam.app.settings import Settings
from live2diff_cam.app.sinks.vcam_setup import MODPROBE_FIX, _linux_fix
from live2diff_cam.app.stats import OUTPUT_RATE_WINDOW_S, RateMeter, SessionStats, StatsRecorder
from live2diff_cam.ui import launch
from live2diff_cam.ui.bridge import SessionBridge, StreamOptions
from live2diff_cam.ui.controls import RegionPicker, device_items
from live2diff_cam.ui.download_dialog import DownloadDialog, NeededModel, _readable
from live2diff_cam.ui.main_window import MIN_WIDTH, MainWindow, fit_to_screen
from live2diff_cam.ui.vcam_dialog import VirtualCameraSetupDialog, split_fix

SIZE = 64


class TimedEngine:
    """An engine whose every step takes `step_s` seconds; outputs are the input, inverted."""

    def __init__(self, step_s: float, warmup: int = 1) -> None:
        self.step_s = step_s
        self.delay_frames = 0
        self.config = type("Config", (), {"warmup": warmup})()
        self.steps_started = threading.Event()
        self.steps_done = 0
        self.thread: threading.Thread | None = None

    def step(self, frame: np.ndarray) -> np.ndarray:
        self.thread = threading.current_thread()
        self.steps_started.set()
        time.sleep(self.step_s)  # cannot be interrupted, like a UNet call
        self.steps_done += 1
        return np.ascontiguousarray(255 - cv2.resize(frame, (SIZE, SIZE)))

    def pop_finished(self) -> None:
        return None

    def flush(self) -> list[np.ndarray]:
        return []

    def reset(self) -> None: ...

    def set_prompt(self, prompt: str) -> None: ...

    def set_strength(self, strength: float) -> None: ...

    def set_depth_scale(self, scale: float) -> None: ...


def _factory(step_s: float):
    built: list[TimedEngine] = []

    def factory(request, depth_hook):
        engine = TimedEngine(step_s)
        built.append(engine)
        return engine

    factory.built = built  # type: ignore[attr-defined]
    return factory


@pytest.fixture
def make_window(qtbot, presets, clip):
    windows: list[MainWindow] = []

    def make(step_s: float = 0.01, settings: dict | None = None, **kwargs) -> MainWindow:
        factory = _factory(step_s)
        bridge = SessionBridge(StreamOptions(device="cpu"), engine_factory=factory)
        base = {
            "source": f"file:{clip}",
            "preset": "ink",
            "sinks": (),
            "resolution": f"{SIZE}x{SIZE}",
            "setup_done": True,
        }
        window = MainWindow(
            bridge, presets, Settings(**{**base, **(settings or {})}), has_cuda=False, **kwargs
        )
        window.engines = factory.built  # type: ignore[attr-defined]
        window.confirm_quit = lambda: True  # pytest-qt closes windows before this teardown
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.quit_app()
        assert not window.bridge.running


# 1. A source switch takes effect within one retry interval ----------------------------------


def test_switching_away_from_a_failing_source_takes_effect_at_once(qtbot, make_window, clip):
    window = make_window(settings={"mode": "bypass"})
    errors: list[str] = []
    window.bridge.errorOccurred.connect(errors.append)
    window.start_streaming()
    qtbot.waitUntil(lambda: window.input_preview.frames_shown > 0, timeout=20_000)
    session = window.bridge.session

    window.bridge.set_source("camera:9")  # no such camera: it fails and retries, backing off
    qtbot.waitUntil(lambda: any("Retrying in 2.0 s" in e for e in errors), timeout=10_000)
    assert "camera 9" in errors[-1]
    before = session.stats().frames_in
    started = time.monotonic()
    window.bridge.set_source(f"file:{clip}")
    qtbot.waitUntil(lambda: session.stats().frames_in > before + 2, timeout=2_000)
    assert time.monotonic() - started < 1.0  # well within the 2 s the camera was waiting
    qtbot.waitUntil(lambda: window.bridge.working_source == f"file:{clip}", timeout=5_000)
    assert window.current_settings().source == f"file:{clip}"


def test_a_source_that_failed_at_start_is_not_remembered(qtbot, make_window, tmp_path, clip):
    window = make_window()
    missing = tmp_path / "missing.mkv"
    window.bridge.set_source(f"file:{missing}")
    with qtbot.waitSignal(window.errorShown, timeout=10_000):
        window.start_streaming()
    qtbot.waitUntil(lambda: not window.bridge.running, timeout=10_000)
    assert window.current_settings().source == f"file:{clip}"  # the one that worked before


# 2. Recordings play in real time ------------------------------------------------------------


def test_a_recording_lasts_as_long_as_it_recorded(qtbot, make_window, tmp_path):
    window = make_window(step_s=0.4)  # ~2 stylized frames a second
    target = tmp_path / "clip.mp4"
    window.choose_record_path = lambda default: str(target)
    window.start_streaming()
    qtbot.waitUntil(lambda: window.bridge.state == "streaming", timeout=20_000)
    qtbot.waitUntil(lambda: window.output_preview.frames_shown > 0, timeout=10_000)

    started = time.monotonic()
    window.transport.record_button.click()
    assert window.record_label.isVisible()
    qtbot.wait(3000)
    assert window.record_label.text().startswith("REC 00:0")
    with qtbot.waitSignal(window.bridge.recordingSaved, timeout=10_000) as saved:
        window.transport.record_button.click()
        wall_s = time.monotonic() - started
    path, frames, seconds = saved.args
    assert path == str(target)
    capture = cv2.VideoCapture(str(target))
    fps = capture.get(cv2.CAP_PROP_FPS)
    counted = 0
    while capture.read()[0]:
        counted += 1
    capture.release()
    assert counted == frames and fps == pytest.approx(30.0)
    assert counted / fps == pytest.approx(wall_s, rel=0.10)
    assert seconds == pytest.approx(wall_s, rel=0.10)
    assert window.info_banner.text().startswith(f"Saved {target} ({frames} frames, 00:0")
    assert window.open_folder_button.isVisible()
    assert "Recording to" not in window.state_label.text()
    assert not window.record_label.isVisible()


# 3. Nothing is downloaded or captured before the user agrees -----------------------------------


def test_first_run_asks_before_any_download_or_capture(qtbot, make_window, monkeypatch):
    missing = NeededModel("sd15", "org/sd15", "Stable Diffusion 1.5", "2.0 GB", cached=False)
    checks: list[str] = []
    downloads: list[str] = []

    def needs(model, lora, vae, depth, motion_module):
        checks.append(model)
        return [] if model == "tiny" or downloads else [missing]

    def downloader(report, cancel):
        downloads.append("sd15")

    monkeypatch.setattr("live2diff_cam.ui.main_window.downloader_for", lambda models: downloader)
    starts: list[str] = []
    window = make_window(settings={"setup_done": False}, needs_check=needs, first_run=True)
    window.bridge.preset = window.bridge.preset.__class__(name="Photo", model="org/sd15")
    window.bridge.start = lambda: starts.append("start") or True  # type: ignore[method-assign]
    window.show_setup()
    qtbot.wait(300)
    assert window.pages.currentWidget() is window.setup_page
    assert "Stable Diffusion 1.5" in window.setup_page.needs_label.text()
    assert "2.0 GB" in window.setup_page.download_button.text()
    window.toggle_streaming()  # Start (or the shortcut) still only shows the page
    assert (starts, downloads) == ([], [])
    assert window.findChild(DownloadDialog) is None
    assert window.bridge.session is None and window.input_preview.frames_shown == 0

    window.setup_page.download_button.click()  # consent
    qtbot.waitUntil(lambda: starts == ["start"], timeout=10_000)
    assert downloads == ["sd15"]
    assert window.pages.currentWidget() is window.studio
    assert window.current_settings().setup_done


def test_first_run_test_model_starts_small_without_a_gpu(qtbot, make_window):
    window = make_window(settings={"setup_done": False, "resolution": "512x512"}, first_run=True)
    assert window.pages.currentWidget() is window.setup_page
    assert window.setup_page.cpu_label.isVisible() or not window.setup_page.isVisible()
    assert not window.bridge.running
    window.setup_page.test_button.click()
    assert window.bridge.running
    options = window.bridge.options
    assert (options.model, options.width, options.height) == ("tiny", 256, 256)
    assert window.model_picker.choice().model == "tiny"


def test_launch_first_start_opens_the_set_up_page_and_starts_nothing(
    qapp, tmp_path, monkeypatch, clip
):
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path / "config"))
    starts: list[bool] = []
    monkeypatch.setattr(SessionBridge, "start", lambda self: starts.append(True) or True)
    parser = launch.argparse.ArgumentParser()
    launch.add_arguments(parser)
    args = parser.parse_args(["--source", f"file:{clip}", "--quit-after", "1"])
    try:
        assert launch.main(args) == 0
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    assert starts == []
    saved = (tmp_path / "config" / "settings.toml").read_text()
    assert "setup_done = false" in saved


def test_offline_download_failure_is_complete_and_stops_the_bar(qtbot):
    from huggingface_hub.errors import LocalEntryNotFoundError

    error = LocalEntryNotFoundError(
        "Got: ConnectError: [Errno -2] Name or service not known\nAn error happened while "
        "trying to locate the files on the Hub. Please check your internet connection and "
        "try again."
    )
    message = _readable(error)
    assert message.count("internet") == 1 and "\n" not in message
    assert "use files you already have" in message and "test model" in message

    def downloader(report, cancel):
        raise error

    dialog = DownloadDialog(downloader)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.error_message is not None, timeout=10_000)
    assert dialog.bytes_label.text() == message and dialog.bytes_label.wordWrap()
    assert dialog.bar.maximum() == 1  # stopped, not a busy animation
    assert dialog.bytes_label.sizeHint().width() <= dialog.width()


# 5. Stop is bounded even when an engine step takes 5 s ---------------------------------------


def test_stop_returns_within_2_s_while_a_5_s_engine_step_runs(qtbot, make_window):
    window = make_window(step_s=5.0)
    window.start_streaming()
    qtbot.waitUntil(lambda: bool(window.engines), timeout=20_000)
    engine = window.engines[0]
    assert engine.steps_started.wait(20)
    started = time.monotonic()
    with qtbot.waitSignal(window.bridge.runningChanged, timeout=2_000) as blocker:
        window.transport.start_button.click()
    assert blocker.args == [False]
    assert time.monotonic() - started < 2.0
    assert window.transport.start_button.text() == "Start"
    assert engine.thread is not None and engine.thread.is_alive()  # finishing in background
    window.quit_app()  # waits for that step: no thread inside the engine at exit
    assert not engine.thread.is_alive()


def test_warm_up_shows_progress_and_an_estimate(qtbot, make_window):
    window = make_window()
    stats = SessionStats(
        "warming up", "stylized", "ok", 30, 0, None, None, 0, 10, 0, 600.0, None, 0, 0, None,
        warmup_done=3, warmup_total=8,
    )  # fmt: skip
    window._on_busy(True)
    window._on_stats(stats)
    assert window.busy_label.text() == "Warming up 3/8 frames, about 00:02 until the last step"
    assert (window.busy_indicator.value(), window.busy_indicator.maximum()) == (3, 8)
    window._on_stats(dataclasses.replace(stats, warmup_done=7))
    assert window.busy_label.text().endswith("preparing the stream (the longest step)")


# 6. Figures that mean what they say --------------------------------------------------------------


def test_latency_counts_stylized_frames_only_and_fps_is_smoothed():
    recorder = StatsRecorder()
    recorder.frame_out(time.perf_counter_ns() - 5_000_000_000, stylized=False)  # pass-through
    assert recorder.latency_ms.percentile(50) is None
    recorder.frame_out(time.perf_counter_ns() - 200_000_000, stylized=True)
    assert recorder.latency_ms.percentile(50) == pytest.approx(200, abs=50)

    # A pipelined engine emits in bursts (2 frames each second): the figure stays near 2.
    meter = RateMeter(OUTPUT_RATE_WINDOW_S)
    second = 1_000_000_000
    rates = []
    for tick in range(10):
        meter.tick(tick * second)
        meter.tick(tick * second + second // 20)
        if tick >= 3:
            rates.append(meter.rate(tick * second + second // 2))
    assert min(rates) > 1.5 and max(rates) < 2.7

    # An engine at one frame per 10 s reads about 0.1 fps between its frames, not 0.
    slow = RateMeter(OUTPUT_RATE_WINDOW_S, 60.0)
    for tick in range(4):
        slow.tick(tick * 10 * second)
    assert 0.08 < slow.rate(35 * second) < 0.2


def test_figures_say_cpu_follow_the_mode_and_reset_on_stop(qtbot, make_window):
    window = make_window()
    window.start_streaming()
    qtbot.waitUntil(lambda: window.bridge.state == "streaming", timeout=20_000)
    qtbot.waitUntil(lambda: window.fps_label.text() != "Output - fps", timeout=10_000)
    window._on_stats(window.bridge.stats().__class__(**{
        **window.bridge.stats().__dict__, "compute": "cpu", "gpu_memory_mb": None,
    }))  # fmt: skip
    assert window.gpu_label.text() == "CPU"
    assert "stylized frames" in window.state_label.text()
    window.set_mode("privacy")
    assert window.state_label.text().startswith("Privacy")
    assert "stylized" not in window.state_label.text()
    with qtbot.waitSignal(window.bridge.runningChanged, timeout=10_000):
        window.stop_streaming()
    assert window.fps_label.text() == "Output - fps"
    assert window.latency_label.text() == "Latency - ms"
    assert window.gpu_label.text() == "GPU -"


# 8. Devices from drop-downs, filled like `live2diff-cam devices` --------------------------------


REPORT = {
    "cameras": [
        {"index": 0, "name": "HD Webcam", "path": "/dev/video0", "virtual": False},
        {"index": 10, "name": "Live2Diff Camera", "path": "/dev/video10", "virtual": True},
    ],
    "monitors": [{"index": 1, "left": 0, "top": 0, "width": 1920, "height": 1080}],
    "windows": [{"title": "Zoom Meeting", "left": 0, "top": 0, "width": 800, "height": 600}],
    "virtual_camera": {"ok": False, "detail": "", "fix": ""},
    "problems": {},
}


def test_device_drop_downs_use_the_devices_report(qtbot, make_window):
    lists: list[int] = []
    window = make_window(device_lister=lambda: lists.append(1) or REPORT)
    picker = window.source_picker
    chosen: list[str] = []
    picker.sourceChosen.connect(chosen.append)
    picker.kind_combo.setCurrentIndex(0)  # camera
    combo = picker.detail_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["HD Webcam (camera 0)"]
    assert chosen[-1] == "camera:0"
    picker.kind_combo.setCurrentIndex(3)  # window
    assert combo.itemText(0) == "Zoom Meeting" and chosen[-1] == "window:Zoom Meeting"
    picker.kind_combo.setCurrentIndex(1)  # screen
    assert combo.itemText(0) == "Monitor 1: 1920 x 1080" and chosen[-1] == "screen:1"
    picker.refresh_button.click()
    assert len(lists) == 2
    # The same code as `live2diff-cam devices`: its real report fills the same lists.
    assert set(device_items(collect(max_cameras=1))) == {"camera", "screen", "window"}


def test_a_missing_file_says_file_not_found(qtbot, make_window, tmp_path):
    window = make_window()
    window.source_picker.set_spec(f"file:{tmp_path / 'gone.mkv'}")
    with qtbot.waitSignal(window.errorShown) as blocker:
        window.source_picker._emit()
    assert blocker.args == [f"file not found: {tmp_path / 'gone.mkv'}"]


# 7. The virtual camera set-up dialog --------------------------------------------------------------


def test_virtual_camera_off_without_a_backend_and_the_set_up_dialog(qtbot, make_window):
    status = {"ok": False}

    def vcam_status():
        if status["ok"]:
            return True, "v4l2loopback devices /dev/video10", ""
        return False, "the v4l2loopback kernel module is not loaded", _linux_fix()

    asked: list[bool] = []
    window = make_window(settings={"sinks": ("vcam",)}, vcam_status=vcam_status)
    assert not window.transport.vcam_toggle.isChecked()  # no red wall at start
    window.run_vcam_setup = lambda: asked.append(True) or False
    window.transport.vcam_toggle.click()
    assert asked == [True] and not window.transport.vcam_toggle.isChecked()
    assert not window.bridge.vcam_enabled

    dialog = VirtualCameraSetupDialog(vcam_status)
    qtbot.addWidget(dialog)
    assert dialog.command() == MODPROBE_FIX
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == MODPROBE_FIX
    assert not dialog.check_again()
    status["ok"] = True
    with qtbot.waitSignal(dialog.accepted):
        dialog.check_button.click()
    assert split_fix("install OBS Studio 30") == ("", "install OBS Studio 30")


# 9. Region picker: exact size over a frozen screenshot ------------------------------------------


def test_region_picker_gives_the_exact_dragged_size(qtbot):
    shot = QPixmap(1000, 700)
    shot.fill(Qt.GlobalColor.darkCyan)
    picker = RegionPicker(shot, QPoint(0, 0))
    qtbot.addWidget(picker)
    picker.setGeometry(0, 0, 1000, 700)
    picker.show()
    picked: list[QRect] = []
    picker.regionPicked.connect(picked.append)
    qtbot.mousePress(picker, Qt.MouseButton.LeftButton, pos=QPoint(500, 340))
    qtbot.mouseMove(picker, QPoint(300, 200))
    image = picker.grab().toImage()
    assert image.pixelColor(400, 300) == shot.toImage().pixelColor(400, 300)  # inside: clear
    assert image.pixelColor(50, 50).value() < shot.toImage().pixelColor(50, 50).value()  # dimmed
    qtbot.mouseRelease(picker, Qt.MouseButton.LeftButton, pos=QPoint(100, 80))
    assert picked == [QRect(100, 80, 400, 260)]


# 10. The window fits the screen -----------------------------------------------------------------


def test_the_window_fits_the_available_screen_at_scale_2(qtbot, make_window):
    window = make_window()
    assert window.minimumSizeHint().width() <= MIN_WIDTH <= 800
    window.resize(1180, 680)
    available = QRect(0, 0, 800, 500)  # 1600x1000 at QT_SCALE_FACTOR=2, in logical pixels
    fit_to_screen(window, available)
    assert available.contains(window.frameGeometry())
    assert window.width() >= window.minimumSizeHint().width()
    screen = window.screen().availableGeometry()
    assert screen.contains(window.frameGeometry())  # and the real one, once shown


# 11. Missing Qt libraries: one line with the apt command ---------------------------------------


def test_missing_qt_libraries_give_the_apt_command(monkeypatch):
    monkeypatch.setattr(launch.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    ldd = (
        "\tlibQt6XcbQpa.so.6 => /opt/Qt/lib/libQt6XcbQpa.so.6 (0x1)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
        "\tlibxkbcommon-x11.so.0 => not found\n"
    )
    missing = launch.missing_qt_libraries(lambda path: ldd)
    assert missing == ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0"]
    message = launch.missing_libraries_message(missing)
    assert "\n" not in message
    assert message.endswith("sudo apt install libxcb-cursor0 libxkbcommon-x11-0")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert launch.missing_qt_libraries(lambda path: ldd) == []


def test_every_kind_of_control_shows_keyboard_focus():
    from live2diff_cam.ui import theme

    focus_rules = [
        rule for rule in theme.STYLE_SHEET.split("}") if ":focus" in rule and theme.FOCUS in rule
    ]
    styled = " ".join(focus_rules)
    for control in ("QPushButton", "QToolButton", "QSlider", "QListWidget", "QComboBox",
                    "QLineEdit", "QSpinBox"):  # fmt: skip
        assert f"{control}:focus" in styled, control


def test_the_qt_binding_keeps_the_reference_counts_of_none(qtbot):
    # PySide6 6.12.0 on CPython < 3.12 drops a reference to None on every void call; a
    # streaming window then aborts within seconds ("none_dealloc"). pyproject excludes it.
    import sys

    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    assert before - sys.getrefcount(None) < 100


def test_use_files_i_already_have(qtbot, make_window, tmp_path):
    from live2diff_cam.ui.first_run import OwnFiles, OwnFilesDialog

    dialog = OwnFilesDialog()
    qtbot.addWidget(dialog)
    assert dialog.check() == "Choose a checkpoint file or a diffusers folder."
    checkpoint = tmp_path / "style.safetensors"
    dialog.edits["checkpoint"].setText(str(checkpoint))
    assert dialog.check() == f"file not found: {checkpoint}"
    checkpoint.write_bytes(b"weights")
    assert dialog.check() == ""
    assert dialog.files() == OwnFiles(str(checkpoint))

    starts: list[bool] = []
    window = make_window(settings={"setup_done": False}, first_run=True)
    window.bridge.start = lambda: starts.append(True) or True  # type: ignore[method-assign]
    motion = tmp_path / "motion.ckpt"
    window.setup_page.ask_own_files = lambda: OwnFiles(str(checkpoint), "", str(motion))
    window.setup_page.own_button.click()
    assert starts == [True]
    options = window.bridge.options
    assert (options.model, options.motion_module) == (str(checkpoint), str(motion))
    assert window.model_picker.choice().model == str(checkpoint)


class SlowToOpen:
    """A source whose open takes `open_s` (a camera waking up), then gives gray frames."""

    def __init__(self, open_s: float) -> None:
        self.name = "slow camera"
        self.open_s = open_s
        self.closed = threading.Event()
        self.index = 0

    def __enter__(self) -> SlowToOpen:
        time.sleep(self.open_s)
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()

    def read(self):
        from live2diff_cam.app.frames import Frame

        time.sleep(1 / 30)
        self.index += 1
        return Frame(np.full((48, 64, 3), 128, np.uint8), time.perf_counter_ns(), self.index)


def test_stop_while_the_source_is_still_opening_leaves_nothing_running(qtbot):
    bridge = SessionBridge(StreamOptions(height=SIZE, width=SIZE), engine_factory=_factory(0.01))
    source = SlowToOpen(1.0)
    bridge._make_source = lambda spec: source  # type: ignore[method-assign]
    bridge.source_spec = "camera:0"
    bridge.mode = "bypass"
    assert bridge.start()
    with qtbot.waitSignal(bridge.runningChanged, timeout=10_000) as blocker:
        bridge.stop()  # before the source finished opening
    assert blocker.args == [False]
    assert source.closed.wait(5)
    qtbot.wait(200)
    assert not [t for t in threading.enumerate() if t.name.startswith("l2d-")]
    assert bridge.shutdown()


def test_model_box_choices_reach_the_engine_request(qtbot, make_window):
    window = make_window(settings={"mode": "bypass"})
    picker = window.model_picker
    assert picker.cpu_note.isVisibleTo(window) and picker.use_test_button.isVisibleTo(window)
    window.start_streaming()
    qtbot.waitUntil(lambda: window.bridge.session is not None, timeout=5_000)
    first = window.bridge.session
    assert first.request.vae == "taesd" and first.request.compile is None  # fast by default
    picker.vae_combo.setCurrentIndex(picker.vae_combo.findData(""))  # "Quality"
    picker.vae_combo.activated.emit(picker.vae_combo.currentIndex())
    qtbot.waitUntil(
        lambda: window.bridge.session is not None and window.bridge.session is not first,
        timeout=20_000,
    )  # restarted with the new choice
    request = window.bridge.session.request
    assert (request.vae, request.width, request.height) == (None, SIZE, SIZE)
    assert window.current_settings().vae == ""
    # "Optimize for speed" off: never compiled, even where there is a GPU.
    second = window.bridge.session
    picker.optimize_check.setChecked(False)
    qtbot.waitUntil(lambda: window.bridge.session not in (None, second), timeout=20_000)
    assert window.bridge.session.request.compile is False
    assert window.current_settings().optimize_for_speed is False

    # A model of one's own replaces the preset's; back to the preset's model restores it, and
    # the user's strength survives both.
    window.style_controls.style_slider.setValue(80)
    picker.set_choice(dataclasses.replace(picker.choice(), model="sd15-random"))
    window.apply_model_choice(picker.choice())
    assert window.bridge.preset.model == "sd15-random"
    picker.set_choice(dataclasses.replace(picker.choice(), model=""))
    window.apply_model_choice(picker.choice())
    assert window.bridge.preset.model == "tiny"  # the preset's own
    assert window.bridge.strength == pytest.approx(0.8)


def test_the_tray_icon_can_be_kept_at_every_start(qtbot, make_window):
    window = make_window(settings={"tray_always": True}, tray_available=True)
    assert window.tray.is_visible() and window.tray.always_action.isChecked()
    window.tray.always_action.trigger()  # unticked from the tray menu
    assert window.current_settings().tray_always is False
    window.tray.always_action.trigger()
    assert window.current_settings().tray_always is True
