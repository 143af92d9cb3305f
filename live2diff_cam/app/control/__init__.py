"""The local control API: HTTP + JSON on 127.0.0.1 so OBS scripts and tools drive the app.

- `schema`: the one request schema (`SettingsChange`) and the status the API reports.
- `token`: the bearer token kept in `control-token` in the config directory.
- `server`: `ControlServer`, a stdlib `ThreadingHTTPServer` bound to loopback only.
- `host`: `SessionHost`, the `ControlTarget` the headless `run` command serves.

The GUI serves the same server with its own target (`ui.remote`). Nothing here imports Qt.
"""

from live2diff_cam.app.control.schema import ControlError, SettingsChange, Status
from live2diff_cam.app.control.server import ControlServer, ControlTarget
from live2diff_cam.app.control.token import load_or_create_token, token_path

__all__ = [
    "ControlError",
    "ControlServer",
    "ControlTarget",
    "SettingsChange",
    "Status",
    "load_or_create_token",
    "token_path",
]
