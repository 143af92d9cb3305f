"""`parse_source_spec`: the one grammar that turns a user's source string into a Source.

Used by `run`, `gui` and the session so the CLI, the settings file and the UI agree. Knows the
grammar only; each source class owns its own behaviour.
"""

from __future__ import annotations

import re
from pathlib import Path

from live2diff_cam.app.frames import Source
from live2diff_cam.app.sources.camera import CameraSource
from live2diff_cam.app.sources.file import FileSource
from live2diff_cam.app.sources.screen import ScreenSource, WindowSource
from live2diff_cam.errors import SourceError

_REGION = re.compile(r"^\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_source_spec(
    spec: str,
    *,
    size: tuple[int, int] | None = (1280, 720),
    fps: float | None = None,
    loop: bool = False,
    realtime: bool | None = None,
) -> Source:
    """Build the (unopened) source a spec names. Grammar:

        camera                  first camera (index 0)
        camera:N                camera by index, e.g. camera:1
        camera:NAME             camera by (part of) its name, quotes optional, Linux only:
                                camera:"Logitech C920"
        screen                  primary monitor
        screen:N                monitor N (1..; 0 = all monitors together)
        screen:X,Y,W,H          region: left, top, width, height in screen pixels
        window:TITLE            follow a window by (part of) its title (X11 and Windows)
        file:PATH | PATH        video file (.mp4 .mkv .avi .mov .webm .gif ...), a folder of
                                images (read in name order), or one image (a still, repeated)

    `size` (width, height) and `fps` are what a camera is asked for (fps also paces screens,
    windows, folders and stills; default 30, a video file keeps its own rate). `loop` and
    `realtime` apply to files (realtime None: paced for a still image, unpaced otherwise).
    Raises SourceError for a malformed spec or a missing file.
    """
    text = spec.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower() if sep else ""
    rest = _unquote(rest)
    if text.lower() == "camera" or scheme == "camera":
        width, height = size if size else (None, None)
        device: int | str = int(rest) if rest.isdigit() else (rest or 0)
        return CameraSource(device, width=width, height=height, fps=fps or 30.0)
    if text.lower() == "screen" or scheme == "screen":
        if not rest:
            return ScreenSource(1, fps=fps or 30.0)
        if rest.isdigit():
            return ScreenSource(int(rest), fps=fps or 30.0)
        region = _REGION.match(rest)
        if region is None:
            raise SourceError(
                f'bad screen spec "{spec}": use screen, screen:N (monitor) or screen:X,Y,W,H '
                "(region, e.g. screen:0,0,1280,720)."
            )
        left, top, width, height = (int(v) for v in region.groups())
        return ScreenSource(region=(left, top, width, height), fps=fps or 30.0)
    if scheme == "window":
        if not rest:
            raise SourceError('bad window spec: give a title, e.g. window:"Mozilla Firefox"')
        return WindowSource(rest, fps=fps or 30.0)
    path = Path(rest if scheme == "file" else _unquote(text)).expanduser()
    if not path.exists():
        raise SourceError(
            f'unknown source "{spec}": not camera[:N|NAME], screen[:N|X,Y,W,H], window:TITLE, '
            f"and no file or folder {path} exists."
        )
    return FileSource(path, loop=loop, realtime=realtime, fps=fps)
