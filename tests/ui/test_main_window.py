"""The window against a real LiveSession: tiny model, real video file, offscreen Qt."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QSlider

from live2diff_cam.app.settings import Settings
from live2diff_cam.ui.bridge import SessionBridge, StreamOptions
from live2diff_cam.ui.main_window import MainWindow

START_TIMEOUT_MS = 90_000  # model build + warmup on 2 shared CPU cores
ENGINE_TIMEOUT_MS = 60_000  # a few engine steps (slow when the cores are shared)


@pytest.fixture
def make_window(qtbot, presets, engines, clip):
    windows: list[MainWindow] = []

    def make(source: str | None = None, tray: bool = True, **settings) -> MainWindow:
        bridge = SessionBridge(
            StreamOptions(model="tiny", height=64, width=64, device="cpu"),
            engine_factory=engines,
        )
        window = MainWindow(
            bridge,
            presets,
            Settings(
                **{
                    "source": source or f"file:{clip}",
                    "preset": "ink",
                    "sinks": (),
                    "resolution": "64x64",
                    **settings,
                }
            ),
            tray_available=tray,
        )
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.quit_app()
        assert not window.bridge.running


def _start(qtbot, window: MainWindow, until: tuple[str, ...] = ("warming up", "streaming")) -> None:
    """Press Start and wait until the engine is built (it takes live parameters from then on)
    or, with until=("streaming",), until stylized frames come out."""
    qtbot.mouseClick(window.findChild(QPushButton, "startButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.bridge.state in until, timeout=START_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.output_preview.frames_shown > 0, timeout=START_TIMEOUT_MS)


def test_widgets_have_stable_names(make_window):
    window = make_window()
    for name in (
        "styleSlider",
        "structureSlider",
        "promptEdit",
        "negativePromptEdit",
        "presetList",
        "startButton",
        "sourcePicker",
        "vcamToggle",
        "recordButton",
        "seedSpin",
        "inputPreview",
        "outputPreview",
        "modeStylized",
        "modeBypass",
        "modeFreeze",
        "modePrivacy",
    ):
        assert window.findChild(object, name) is not None, name


def test_sliders_preset_and_prompt_reach_the_engine(qtbot, make_window, engines):
    window = make_window(strength=0.5)
    _start(qtbot, window)
    engine = engines.built[-1]
    window.findChild(QSlider, "styleSlider").setValue(20)
    window.findChild(QSlider, "structureSlider").setValue(50)
    qtbot.waitUntil(
        lambda: 0.2 in engine.values("strength") and 0.5 in engine.values("depth_scale"),
        timeout=ENGINE_TIMEOUT_MS,
    )
    assert engine.config.strength == pytest.approx(0.2)

    window.gallery.setCurrentRow(1)  # "oil": its own strength and template
    assert window.style_controls.strength() == pytest.approx(0.3)
    qtbot.keyClicks(window.prompts.prompt_edit, "a dog")
    qtbot.waitUntil(
        lambda: (
            "oil painting of a dog" in engine.values("prompt") and 0.3 in engine.values("strength")
        ),
        timeout=ENGINE_TIMEOUT_MS,
    )
    assert window.bridge.session.preset.name == "oil"
    remembered = window.current_settings()
    assert (remembered.preset, remembered.prompt) == ("oil", "a dog")
    assert remembered.strength == pytest.approx(0.3)


def test_stream_modes_tray_and_stop(qtbot, make_window):
    window = make_window(tray=True)
    _start(qtbot, window, until=("streaming",))
    qtbot.waitUntil(lambda: "-" not in window.fps_label.text(), timeout=ENGINE_TIMEOUT_MS)
    assert window.findChild(QLabel, "droppedLabel").text().startswith("Dropped ")

    window.findChild(QPushButton, "modeBypass").click()
    assert window.bridge.session.mode.value == "bypass"
    window.shortcuts["privacy"].activated.emit()
    assert window.bridge.session.mode.value == "privacy"
    assert window.tray.mode_actions["privacy"].isChecked()
    window.tray.mode_actions["stylized"].trigger()
    assert window.modes.mode() == "stylized"
    window.shortcuts["next_preset"].activated.emit()
    assert window.gallery.current_name() == "oil"

    window.set_mode("bypass")  # outputs at the camera's rate, whatever the engine's speed
    window.close()  # with a tray: hide, keep streaming
    assert window.isHidden() and window.bridge.running
    assert window.tray.last_message is not None
    before = window.bridge.latest_frames()[1].index
    qtbot.waitUntil(lambda: window.bridge.latest_frames()[1].index > before, timeout=10_000)
    window.tray.showRequested.emit()
    assert window.isVisible() and window.pump.is_active()

    with qtbot.waitSignal(window.bridge.runningChanged, timeout=30_000) as blocker:
        window.shortcuts["start_stop"].activated.emit()
    assert blocker.args == [False]
    assert window.transport.start_button.text() == "Start"


def test_without_tray_closing_asks(qtbot, make_window):
    window = make_window(tray=False)
    window.start_streaming()
    assert window.bridge.running
    asked = []
    window.confirm_quit = lambda: asked.append(True) or False
    window.close()
    assert asked == [True]
    assert window.isVisible() and window.bridge.running


def test_source_error_shows_a_message(qtbot, make_window, tmp_path):
    window = make_window(source=f"file:{tmp_path / 'missing.mkv'}")
    with qtbot.waitSignal(window.errorShown, timeout=10_000) as blocker:
        window.start_streaming()
    assert "missing.mkv" in blocker.args[0]
    assert window.error_row.isVisible()
    assert not window.bridge.running
    assert window.transport.start_button.text() == "Start"


def test_source_switch_to_a_bad_file_while_streaming_shows_a_message(qtbot, make_window, tmp_path):
    window = make_window()
    window.start_streaming()
    qtbot.waitUntil(lambda: window.input_preview.frames_shown > 0, timeout=START_TIMEOUT_MS)
    with qtbot.waitSignal(window.errorShown, timeout=10_000) as blocker:
        window.source_picker.set_spec(f"file:{tmp_path / 'gone.mkv'}")
        window.source_picker._emit()
    assert "gone.mkv" in blocker.args[0]
    assert window.bridge.running  # the old source keeps streaming


@pytest.mark.skipif(
    os.path.isdir("/sys/module/v4l2loopback"), reason="a real virtual camera is available here"
)
def test_virtual_camera_failure_is_shown_and_the_toggle_goes_off(qtbot, make_window):
    window = make_window(sinks=("vcam",))
    assert window.transport.vcam_toggle.isChecked()
    with qtbot.waitSignal(window.bridge.sinkFailed, timeout=20_000) as blocker:
        window.start_streaming()
    assert blocker.args == ["vcam"]
    assert "v4l2loopback" in window.last_error
    assert not window.transport.vcam_toggle.isChecked()
    assert window.bridge.running  # the preview goes on without the virtual camera
