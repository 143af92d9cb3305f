"""The control widgets: values in, plain signals out, setters that do not echo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect

from live2diff_cam.ui.controls import (
    ModeButtons,
    PresetCard,
    PresetGallery,
    PromptPanel,
    SourcePicker,
    StyleControls,
    TransportBar,
)


def test_style_slider_emits_strength_in_unit_range(qtbot):
    controls = StyleControls()
    qtbot.addWidget(controls)
    with qtbot.waitSignal(controls.strengthChanged) as blocker:
        controls.style_slider.setValue(75)
    assert blocker.args == [pytest.approx(0.75)]
    with qtbot.waitSignal(controls.depthScaleChanged) as blocker:
        controls.structure_slider.setValue(150)
    assert blocker.args == [pytest.approx(1.5)]


def test_set_values_does_not_emit(qtbot):
    controls = StyleControls()
    qtbot.addWidget(controls)
    with (
        qtbot.assertNotEmitted(controls.strengthChanged),
        qtbot.assertNotEmitted(controls.seedChanged),
    ):
        controls.set_values(0.3, 0.5, 1234)
    assert controls.strength() == pytest.approx(0.3)
    assert controls.depth_scale() == pytest.approx(0.5)
    assert controls.seed() == 1234


def test_prompt_is_debounced_into_one_signal(qtbot):
    panel = PromptPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.promptChanged, timeout=3000) as blocker:
        qtbot.keyClicks(panel.prompt_edit, "a cat")
    assert blocker.args == ["a cat"]
    with qtbot.waitSignal(panel.negativePromptChanged, timeout=3000) as blocker:
        panel.negative_edit.setText("blurry")
    assert blocker.args == ["blurry"]


@pytest.mark.parametrize(
    ("spec", "kind", "detail"),
    [
        ("camera:1", "camera", "1"),
        ("screen:2", "screen", "2"),
        ("screen:10,20,640,480", "region", "10,20,640,480"),
        ("window:Zoom Meeting", "window", "Zoom Meeting"),
        ("file:/tmp/clip.mkv", "file", "/tmp/clip.mkv"),
        ("/tmp/clip.mkv", "file", "/tmp/clip.mkv"),
    ],
)
def test_source_picker_round_trips_the_app_grammar(qtbot, spec, kind, detail):
    picker = SourcePicker()
    qtbot.addWidget(picker)
    with qtbot.assertNotEmitted(picker.sourceChosen):
        picker.set_spec(spec)
    assert picker.kind() == kind
    assert picker.detail_edit.text() == detail
    expected = spec if ":" in spec else f"file:{spec}"
    assert picker.spec() == expected


def test_source_picker_region_emits_screen_region(qtbot):
    picker = SourcePicker()
    qtbot.addWidget(picker)
    picker.set_spec("screen:0,0,100,100")
    with qtbot.waitSignal(picker.sourceChosen) as blocker:
        picker._on_region(QRect(5, 6, 320, 240))
    assert blocker.args == ["screen:5,6,320,240"]


def test_gallery_steps_and_wraps(qtbot):
    gallery = PresetGallery()
    qtbot.addWidget(gallery)
    gallery.set_presets([PresetCard("a", "Anime"), PresetCard("b", "Oil paint")])
    assert gallery.names() == ["a", "b"]
    assert gallery.select("b")
    assert not gallery.select("zzz")
    with qtbot.waitSignal(gallery.presetChosen) as blocker:
        gallery.step(+1)
    assert blocker.args == ["a"]
    with qtbot.waitSignal(gallery.presetChosen) as blocker:
        gallery.step(-1)
    assert blocker.args == ["b"]


def test_modes_are_exclusive_and_named(qtbot):
    modes = ModeButtons()
    qtbot.addWidget(modes)
    assert modes.mode() == "stylized"
    with qtbot.waitSignal(modes.modeChosen) as blocker:
        modes.buttons["privacy"].click()
    assert blocker.args == ["privacy"]
    assert not modes.buttons["stylized"].isChecked()
    assert {b.objectName() for b in modes.buttons.values()} == {
        "modeStylized",
        "modeBypass",
        "modeFreeze",
        "modePrivacy",
    }


def test_start_button_reports_and_window_owns_state(qtbot):
    bar = TransportBar()
    qtbot.addWidget(bar)
    with qtbot.waitSignal(bar.startStopClicked):
        bar.start_button.click()
    assert not bar.start_button.isChecked()  # only set_running changes it
    bar.set_running(True)
    assert bar.start_button.text() == "Stop" and bar.start_button.isChecked()
    with qtbot.waitSignal(bar.vcamToggled) as blocker:
        bar.vcam_toggle.click()
    assert blocker.args == [True]
