"""Live2Diff Camera for OBS Studio (Tools -> Scripts): style the camera without leaving OBS.

Talks only to the app's local control API (`live2diff-cam gui --control-port 8510`, or the
`control_port` setting) over HTTP on this computer, with the token from the app's
`control-token` file. Properties: the app's presets, style and structure sliders, mode
buttons, start / stop and the connection status. Hotkeys (Settings -> Hotkeys): bypass
on/off, privacy on/off, next preset; they work while OBS has focus and are saved with the
scene collection. Only the standard library: OBS's Python has nothing else. docs/OBS.md
shows the set-up.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import obspython as obs

DEFAULT_URL = "http://127.0.0.1:8510"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
REQUEST_TIMEOUT_S = 1.0  # loopback: anything slower means the app is stuck
POLL_MS = 1000
MODES = (
    ("stylized", "Stylized"),
    ("bypass", "Bypass"),
    ("freeze", "Freeze"),
    ("privacy", "Privacy"),
)
HOTKEYS = (
    ("live2diff_bypass", "Live2Diff Camera: bypass on/off"),
    ("live2diff_privacy", "Live2Diff Camera: privacy on/off"),
    ("live2diff_next_preset", "Live2Diff Camera: next preset"),
)


class ApiError(Exception):
    """The app did not answer, or refused: the message is shown as the connection status."""


def default_token_file() -> Path:
    """Where the app keeps its token (the same folder as its settings.toml)."""
    override = os.environ.get("LIVE2DIFF_CAM_CONFIG_DIR")
    if override:
        folder = Path(override).expanduser()
    elif sys.platform == "win32":
        folder = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        folder = folder / "live2diff-cam"
    elif sys.platform == "darwin":
        folder = Path.home() / "Library" / "Application Support" / "live2diff-cam"
    else:
        folder = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        folder = folder / "live2diff-cam"
    return folder / "control-token"


class ControlClient:
    """The control API's client: one short HTTP request per call, JSON in and out."""

    def __init__(self, url: str = DEFAULT_URL, token: str = "") -> None:
        self.url = url.rstrip("/")
        self.token = token

    def status(self) -> dict:
        return self._request("GET", "/v1/status")

    def presets(self) -> list[str]:
        return [entry["name"] for entry in self._request("GET", "/v1/presets")["presets"]]

    def start(self) -> dict:
        return self._request("POST", "/v1/start")

    def stop(self) -> dict:
        return self._request("POST", "/v1/stop")

    def change(self, **values: object) -> dict:
        return self._request("POST", "/v1/settings", values)

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        host = urllib.parse.urlsplit(self.url).hostname
        if host not in LOOPBACK_HOSTS:
            # The token unlocks the camera: it must never travel off this computer.
            raise ApiError(f"the API address must be on this computer (127.0.0.1), not {host}")
        token = self.token or _read_token()
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read())["error"]
            except (ValueError, KeyError, TypeError):
                message = error.reason
            raise ApiError(f"{error.code}: {message}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise ApiError(
                f"no answer from {self.url} ({reason}): start Live2Diff Camera with "
                "--control-port, or check the address"
            ) from None


def _read_token() -> str:
    path = default_token_file()
    try:
        return path.read_text("ascii").strip()
    except OSError:
        raise ApiError(f"no token: paste it, or start the app once to create {path}") from None


# -- what the script remembers ---------------------------------------------------------------


class ScriptState:
    """The script's state between OBS's calls: the client, the app's last known status,
    the preset names, the hotkey ids and the settings object OBS gave us."""

    def __init__(self) -> None:
        self.client = ControlClient()
        self.settings = None
        self.app: dict | None = None  # the last status answer; None: not connected
        self.presets: list[str] = []
        self.message = "Not connected yet"
        self._logged = ""
        self.hotkeys: dict[str, int] = {}

    def refresh(self) -> None:
        """Fetch the status (and the preset list once); mirror it into the properties."""
        was_connected = self.app is not None
        try:
            self.app = self.client.status()
            if not self.presets:
                self.presets = self.client.presets()
        except ApiError as error:
            self.app = None
            self.message = f"Not connected: {error}"
        else:
            self.message = describe(self.app)
        # print() lands in OBS's Script Log: on connecting, disconnecting or a new fault,
        # not once a second.
        changed = was_connected != (self.app is not None) or self.app is None
        if changed and self.message != self._logged:
            print(f"Live2Diff Camera: {self.message}")
            self._logged = self.message
        self.mirror()

    def mirror(self) -> None:
        """Show the app's values in the properties, so OBS's stored ones are never sent back."""
        settings = self.settings
        if settings is None:
            return
        obs.obs_data_set_string(settings, "status", self.message)
        app = self.app
        if app is not None:
            obs.obs_data_set_double(settings, "strength", app["strength"])
            obs.obs_data_set_double(settings, "structure", app["structure"])
            obs.obs_data_set_string(settings, "preset", app["preset"] or "")

    def act(self, action) -> None:  # type: ignore[no-untyped-def]
        """Run one API call; a failure becomes the status line, never an exception in OBS."""
        try:
            self.app = action()
            self.message = describe(self.app)
        except ApiError as error:
            self.message = f"Not done: {error}"
        self.mirror()

    def push_changes(self, settings) -> None:  # type: ignore[no-untyped-def]
        """Send what the user changed in the properties (compared with the app's values)."""
        app = self.app
        if app is None:
            return  # values from a saved scene collection must not override the app's
        changes: dict[str, object] = {}
        preset = obs.obs_data_get_string(settings, "preset")
        if preset and preset != app["preset"]:
            changes["preset"] = preset
        for name in ("strength", "structure"):
            value = round(obs.obs_data_get_double(settings, name), 2)
            if abs(value - app[name]) > 1e-6:
                changes[name] = value
        if changes:
            self.act(lambda: self.client.change(**changes))

    def toggle_mode(self, mode: str) -> None:
        def toggle() -> dict:
            current = self.client.status()["mode"]
            return self.client.change(mode="stylized" if current == mode else mode)

        self.act(toggle)

    def next_preset(self) -> None:
        def step() -> dict:
            names = self.presets or self.client.presets()
            current = self.client.status()["preset"]
            index = names.index(current) + 1 if current in names else 0
            return self.client.change(preset=names[index % len(names)])

        self.act(step)


def describe(status: dict) -> str:
    """One line for the properties: state, mode, FPS and latency."""
    if not status["running"]:
        return f"Connected: stopped ({status['mode']})"
    text = f"Connected: {status['state']}, {status['mode']}"
    if status.get("fps") is not None:
        text += f", {status['fps']:.1f} fps"
    if status.get("latency_p50_ms") is not None:
        text += f", {status['latency_p50_ms']:.0f} ms"
    return text


STATE = ScriptState()


# -- OBS's script interface --------------------------------------------------------------------


def script_description() -> str:
    return (
        "<b>Live2Diff Camera</b><br>Pick a style, move the sliders and switch modes in the "
        "Live2Diff Camera app. Start the app with <code>--control-port 8510</code>; the token "
        "is read from its control-token file unless you paste one. Hotkeys: Settings -> Hotkeys."
    )


def script_defaults(settings) -> None:  # type: ignore[no-untyped-def]
    obs.obs_data_set_default_string(settings, "url", DEFAULT_URL)
    obs.obs_data_set_default_double(settings, "strength", 0.5)
    obs.obs_data_set_default_double(settings, "structure", 1.0)


def script_properties():  # type: ignore[no-untyped-def]
    if not STATE.presets:
        STATE.refresh()  # OBS asks for the properties right after loading, before a poll
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(props, "status", "Connection", obs.OBS_TEXT_INFO)
    obs.obs_properties_add_text(props, "url", "API address", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_text(props, "token", "Token", obs.OBS_TEXT_PASSWORD)
    presets = obs.obs_properties_add_list(
        props, "preset", "Preset", obs.OBS_COMBO_TYPE_LIST, obs.OBS_COMBO_FORMAT_STRING
    )
    for name in STATE.presets:
        obs.obs_property_list_add_string(presets, name, name)
    obs.obs_properties_add_float_slider(props, "strength", "Style", 0.0, 1.0, 0.01)
    obs.obs_properties_add_float_slider(props, "structure", "Structure", 0.0, 2.0, 0.01)
    for mode, title in MODES:
        obs.obs_properties_add_button(props, f"mode_{mode}", title, _mode_button(mode))
    obs.obs_properties_add_button(props, "start", "Start", _on_start)
    obs.obs_properties_add_button(props, "stop", "Stop", _on_stop)
    obs.obs_properties_add_button(props, "refresh", "Reconnect / refresh", _on_refresh)
    return props


def script_update(settings) -> None:  # type: ignore[no-untyped-def]
    STATE.settings = settings
    STATE.client = ControlClient(
        obs.obs_data_get_string(settings, "url") or DEFAULT_URL,
        obs.obs_data_get_string(settings, "token").strip(),
    )
    STATE.push_changes(settings)


def script_load(settings) -> None:  # type: ignore[no-untyped-def]
    STATE.settings = settings
    for name, description in HOTKEYS:
        hotkey = obs.obs_hotkey_register_frontend(name, description, _hotkey_callback(name))
        STATE.hotkeys[name] = hotkey
        bindings = obs.obs_data_get_array(settings, name)
        obs.obs_hotkey_load(hotkey, bindings)
        obs.obs_data_array_release(bindings)
    obs.timer_add(_poll, POLL_MS)


def script_save(settings) -> None:  # type: ignore[no-untyped-def]
    for name, hotkey in STATE.hotkeys.items():
        bindings = obs.obs_hotkey_save(hotkey)
        obs.obs_data_set_array(settings, name, bindings)
        obs.obs_data_array_release(bindings)


def script_unload() -> None:
    obs.timer_remove(_poll)
    STATE.settings = None


def _poll() -> None:
    STATE.refresh()


def _hotkey_callback(name: str):  # type: ignore[no-untyped-def]
    def on_key(pressed: bool) -> None:
        if not pressed:
            return  # act on the press, not again on the release
        if name == "live2diff_bypass":
            STATE.toggle_mode("bypass")
        elif name == "live2diff_privacy":
            STATE.toggle_mode("privacy")
        else:
            STATE.next_preset()

    return on_key


def _mode_button(mode: str):  # type: ignore[no-untyped-def]
    def on_click(props, prop) -> bool:  # type: ignore[no-untyped-def]
        STATE.act(lambda: STATE.client.change(mode=mode))
        return True

    return on_click


def _on_start(props, prop) -> bool:  # type: ignore[no-untyped-def]
    STATE.act(STATE.client.start)
    return True


def _on_stop(props, prop) -> bool:  # type: ignore[no-untyped-def]
    STATE.act(STATE.client.stop)
    return True


def _on_refresh(props, prop) -> bool:  # type: ignore[no-untyped-def]
    """Fetch the preset list again and rebuild the preset menu (True redraws the view)."""
    STATE.presets = []
    STATE.refresh()
    menu = obs.obs_properties_get(props, "preset")
    obs.obs_property_list_clear(menu)
    for name in STATE.presets:
        obs.obs_property_list_add_string(menu, name, name)
    return True
