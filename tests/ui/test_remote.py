"""The control API in the GUI: a change posted over loopback HTTP shows in the window, the
tray and the bridge at once, and start / stop drive the real tiny-model session."""

from __future__ import annotations

import threading

import pytest

from live2diff_cam.app.control import ControlServer
from live2diff_cam.app.settings import Settings
from live2diff_cam.ui.bridge import SessionBridge, StreamOptions
from live2diff_cam.ui.main_window import MainWindow
from live2diff_cam.ui.remote import WindowControl
from tests.app.control_client import call

TOKEN = "gui-test-token"
START_TIMEOUT_MS = 90_000


@pytest.fixture
def remote(qtbot, presets, engines, clip):
    bridge = SessionBridge(
        StreamOptions(model="tiny", height=32, width=32, device="cpu"), engine_factory=engines
    )
    window = MainWindow(
        bridge,
        presets,
        Settings(
            source=f"file:{clip}", preset="ink", sinks=(), setup_done=True, resolution="32x32"
        ),
        tray_available=True,
    )
    qtbot.addWidget(window)
    window.show()
    server = ControlServer(WindowControl(window, presets), 0, TOKEN)
    server.start()

    def request(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """One HTTP call from another thread while this (the Qt) thread keeps its loop going,
        as in the app, where the server's threads wait for the window's answer."""
        answers: list[tuple[int, dict]] = []
        worker = threading.Thread(
            target=lambda: answers.append(call(server.port, method, path, body, token=TOKEN))
        )
        worker.start()
        qtbot.waitUntil(lambda: bool(answers), timeout=10_000)
        worker.join()
        return answers[0]

    yield window, request
    server.close()
    window.quit_app()
    assert not window.bridge.running


def test_a_change_from_the_api_shows_in_the_window_tray_and_bridge(remote):
    window, request = remote
    body = {"preset": "oil", "prompt": "a cat", "strength": 0.8, "structure": 0.4}
    status, answer = request("POST", "/v1/settings", {**body, "mode": "privacy"})
    assert status == 200
    assert {k: answer[k] for k in (*body, "mode", "running")} == {
        **body,
        "mode": "privacy",
        "running": False,
    }
    # The window ...
    assert window.gallery.current_name() == "oil"
    assert window.prompts.prompt_edit.text() == "a cat"
    assert window.style_controls.strength() == 0.8
    assert window.style_controls.depth_scale() == 0.4
    assert window.modes.mode() == "privacy"
    # ... the tray ...
    assert window.tray.mode_actions["privacy"].isChecked()
    assert window.tray._preset_actions["oil"].isChecked()
    # ... and the bridge, which the next session starts from.
    bridge = window.bridge
    assert (bridge.preset.name, bridge.prompt, bridge.strength, bridge.depth_scale) == (
        "oil",
        "a cat",
        0.8,
        0.4,
    )
    assert bridge.mode == "privacy"
    assert window.current_settings().preset == "oil"

    status, answer = request("POST", "/v1/settings", {"preset": "sepia"})
    assert (status, answer) == (400, {"error": "unknown preset 'sepia' (known: ink, oil)"})
    assert request("GET", "/v1/presets")[1]["presets"][1] == {
        "name": "oil",
        "description": "Thick paint",
    }


def test_start_change_and_stop_a_real_session_from_the_api(remote, qtbot, engines):
    window, request = remote
    status, answer = request("POST", "/v1/start")
    assert (status, answer["running"]) == (200, True)
    qtbot.waitUntil(lambda: window.bridge.state == "streaming", timeout=START_TIMEOUT_MS)
    assert window.transport.start_button.text() == "Stop"
    assert window.tray.start_action.text() == "Stop"

    assert request("POST", "/v1/settings", {"strength": 0.25})[0] == 200
    qtbot.waitUntil(lambda: 0.25 in engines.built[-1].values("strength"), timeout=30_000)
    assert window.style_controls.strength() == 0.25
    status = request("GET", "/v1/status")[1]
    assert status["state"] == "streaming" and status["strength"] == 0.25

    assert request("POST", "/v1/stop")[0] == 200
    qtbot.waitUntil(lambda: not window.bridge.running and window.bridge.state == "stopped")
    assert window.tray.start_action.text() == "Start"
