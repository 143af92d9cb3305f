"""Turning the control API on for a command: which port, the token, one line to the user.

`run` and `gui` call `serve_control()`; the port comes from `--control-port`, else from the
`control_port` setting; 0 means off (the default).
"""

from __future__ import annotations

import argparse
import logging
import sys

from live2diff_cam.app.control.server import ControlServer, ControlTarget
from live2diff_cam.app.control.token import load_or_create_token, token_path
from live2diff_cam.app.settings import SettingsError, load_settings

log = logging.getLogger(__name__)


def add_port_argument(parser: argparse.ArgumentParser) -> None:
    """`--control-port PORT` for a command's parser (run and gui share the wording)."""
    parser.add_argument(
        "--control-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve the local control API (OBS script, docs/OBS.md) on 127.0.0.1:PORT; "
        "0 = off (default: the control_port setting, which is 0)",
    )


def chosen_port(flag: int | None) -> int:
    """The `--control-port` flag when given, else the `control_port` setting. A damaged
    settings file leaves the API off with a warning: it must not stop a headless stream."""
    if flag is not None:
        return flag
    try:
        return load_settings().control_port
    except SettingsError as error:
        log.warning("%s The control API stays off.", error)
        return 0


def serve_control(target: ControlTarget, port: int) -> ControlServer | None:
    """Serve `target` on 127.0.0.1:`port` (None when `port` is 0). Raises `ControlError` for a
    bad or busy port."""
    if port == 0:
        return None
    server = ControlServer(target, port, load_or_create_token())
    server.start()
    print(
        f"live2diff-cam: control API on {server.url} (token in {token_path()})",
        file=sys.stderr,
        flush=True,
    )
    return server
