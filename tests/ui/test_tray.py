"""The tray menu turns picks into signals and keeps the last notification."""

from __future__ import annotations

from live2diff_cam.ui import theme
from live2diff_cam.ui.tray import TrayController


def test_menu_actions_emit(qtbot):
    tray = TrayController(theme.app_icon(), available=True)
    tray.set_presets([("ink", "Ink"), ("oil", "Oil")])
    titles = [a.text() for a in tray.presets_menu.actions()]
    assert titles == ["Ink", "Oil"]
    with qtbot.waitSignal(tray.presetChosen) as blocker:
        tray.presets_menu.actions()[1].trigger()
    assert blocker.args == ["oil"]
    with qtbot.waitSignal(tray.modeChosen) as blocker:
        tray.mode_actions["freeze"].trigger()
    assert blocker.args == ["freeze"]
    with qtbot.waitSignal(tray.startStopRequested):
        tray.start_action.trigger()
    with qtbot.waitSignal(tray.showRequested):
        tray.show_action.trigger()
    with qtbot.waitSignal(tray.quitRequested):
        tray.quit_action.trigger()
    with qtbot.waitSignal(tray.alwaysShownChanged) as blocker:
        tray.always_action.trigger()
    assert blocker.args == [True] and tray.always_action.isChecked()
    tray.set_running(True)
    assert tray.start_action.text() == "Stop"
    tray.set_presets([("oil", "Oil")])  # replacing the list drops the old actions
    assert [a.text() for a in tray.presets_menu.actions()] == ["Oil"]
    tray.dispose()


def test_notify_without_tray_is_remembered(qtbot):
    tray = TrayController(theme.app_icon(), available=False)
    tray.set_visible(True)
    assert not tray.is_visible()
    tray.notify("Live2Diff Camera", "camera unplugged", error=True)
    assert tray.last_message == ("Live2Diff Camera", "camera unplugged")
    tray.dispose()
