"""packaging/obs/live2diff_camera.py against a stand-in `obspython` and a real control server
over loopback: properties, buttons, sliders, hotkeys, saved bindings, connection status."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from live2diff_cam.app.control import ControlServer, load_or_create_token, token_path
from tests.app.control_client import RecordingTarget
from tests.packaging.obspython_standin import OBS_TEXT_INFO, OBS_TEXT_PASSWORD, Data, StandInObs

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "obs" / "live2diff_camera.py"


@pytest.fixture
def standin(monkeypatch) -> StandInObs:
    obs = StandInObs()
    monkeypatch.setitem(sys.modules, "obspython", obs.module())
    return obs


@pytest.fixture
def script(standin):
    """The script as OBS loads it: a fresh module each test."""
    spec = importlib.util.spec_from_file_location("live2diff_camera_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A real control server with a recording target; its token in the app's token file."""
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path))
    target = RecordingTarget()
    with ControlServer(target, 0, load_or_create_token()) as server:
        yield target, server


def loaded(script, server=None, **values) -> Data:
    """OBS's order: defaults, update with the saved settings, load."""
    settings = Data()
    script.script_defaults(settings)
    if server is not None:
        settings["url"] = server.url
    settings.update(values)
    script.script_update(settings)
    script.script_load(settings)
    return settings


def test_the_token_file_is_where_the_app_writes_it(script, monkeypatch, tmp_path):
    monkeypatch.delenv("LIVE2DIFF_CAM_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert script.default_token_file() == token_path()
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path / "other"))
    assert script.default_token_file() == token_path() == tmp_path / "other" / "control-token"


def test_properties_show_the_apps_presets_sliders_modes_and_status(script, standin, app):
    _target, server = app
    settings = loaded(script, server)
    # OBS builds the properties right after loading, before the timer's first tick.
    props = script.script_properties()
    assert settings["status"] == "Connected: stopped (stylized)"
    assert props["status"].args == (OBS_TEXT_INFO,)
    assert props["token"].args == (OBS_TEXT_PASSWORD,)
    assert props["preset"].items == [("ink", "ink"), ("oil", "oil")]
    assert props["strength"].args == (0.0, 1.0, 0.01)
    assert props["structure"].args == (0.0, 2.0, 0.01)
    buttons = [name for name, prop in props.items() if prop.kind == "button"]
    assert buttons == [
        "mode_stylized",
        "mode_bypass",
        "mode_freeze",
        "mode_privacy",
        "start",
        "stop",
        "refresh",
    ]
    # The app's values are mirrored in, so OBS never sends its stored ones back.
    assert (settings["strength"], settings["structure"], settings["preset"]) == (0.5, 1.0, "ink")


def test_buttons_and_sliders_drive_the_app(script, standin, app):
    target, server = app
    settings = loaded(script, server, strength=0.9)
    # Before the first status, a value restored from the scene collection is not sent.
    assert target.changes == []
    script._poll()
    props = script.script_properties()
    assert props["start"].callback(props, props["start"]) is True
    assert (
        target.running and settings["status"] == "Connected: streaming, stylized, 12.5 fps, 80 ms"
    )
    props["mode_privacy"].callback(props, props["mode_privacy"])
    assert target.values["mode"] == "privacy"
    # The user moves a slider and picks a preset: only what changed is sent, once.
    settings["strength"] = 0.73
    settings["preset"] = "oil"
    script.script_update(settings)
    assert target.changes[-1] == {"strength": 0.73, "preset": "oil"}
    script.script_update(settings)
    assert len(target.changes) == 2
    props["stop"].callback(props, props["stop"])
    assert not target.running and target.stops == 1


def test_hotkeys_toggle_bypass_and_privacy_and_step_through_presets(script, standin, app):
    target, server = app
    loaded(script, server)
    descriptions = sorted(d for _, d, _ in standin.hotkeys.values())
    assert descriptions == [
        "Live2Diff Camera: bypass on/off",
        "Live2Diff Camera: next preset",
        "Live2Diff Camera: privacy on/off",
    ]
    standin.press("live2diff_bypass")
    assert target.values["mode"] == "bypass"
    standin.press("live2diff_bypass", pressed=False)  # the release does nothing
    assert target.values["mode"] == "bypass"
    standin.press("live2diff_bypass")
    assert target.values["mode"] == "stylized"
    standin.press("live2diff_privacy")
    assert target.values["mode"] == "privacy"
    standin.press("live2diff_next_preset")
    assert target.values["preset"] == "oil"
    standin.press("live2diff_next_preset")
    assert target.values["preset"] == "ink"


def test_hotkey_bindings_are_saved_and_loaded_with_the_scene_collection(script, standin, app):
    _target, server = app
    settings = loaded(script, server)
    (bypass,) = [i for i, (n, _, _) in standin.hotkeys.items() if n == "live2diff_bypass"]
    standin.bindings[bypass] = [{"key": "OBS_KEY_F9", "control": True}]
    script.script_save(settings)
    assert settings["live2diff_bypass"] == [{"key": "OBS_KEY_F9", "control": True}]
    assert settings["live2diff_privacy"] == []
    script.script_unload()
    assert standin.timers == {}

    # OBS starts again: a new stand-in, the saved settings, the same binding.
    again = StandInObs()
    sys.modules["obspython"] = again.module()  # the fixture's monkeypatch removes it after
    spec = importlib.util.spec_from_file_location("live2diff_camera_again", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.script_load(settings)
    (bypass,) = [i for i, (n, _, _) in again.hotkeys.items() if n == "live2diff_bypass"]
    assert again.bindings[bypass] == [{"key": "OBS_KEY_F9", "control": True}]
    assert list(again.timers.values()) == [1000]


def test_the_status_line_says_what_is_wrong(script, standin, app, tmp_path, capsys):
    target, server = app
    settings = loaded(script, server, token="not-the-token")
    script._poll()
    assert settings["status"].startswith("Not connected: 401: missing or wrong token")
    script._poll()  # the Script Log gets a fault once, not once a second
    logged = capsys.readouterr().out.splitlines()
    assert len(logged) == 1 and logged[0].startswith("Live2Diff Camera: Not connected: 401")
    settings = loaded(script, None, url="http://192.168.1.20:8510")
    script._poll()
    assert settings["status"] == (
        "Not connected: the API address must be on this computer (127.0.0.1), not 192.168.1.20"
    )
    url = server.url
    server.close()
    settings = loaded(script, None, url=url)
    script._poll()
    assert settings["status"].startswith(f"Not connected: no answer from {url} (")
    assert settings["status"].endswith(
        "start Live2Diff Camera with --control-port, or check the address"
    )
    props = script.script_properties()
    props["start"].callback(props, props["start"])  # a click while disconnected: no exception
    assert settings["status"].startswith("Not done: no answer from")
    assert target.starts == 0
