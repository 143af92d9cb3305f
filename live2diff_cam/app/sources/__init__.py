"""Video sources: webcam, screen (monitor, region, window) and files, plus the spec parser.

Every source follows `live2diff_cam.app.frames.Source`: a context manager whose `read()` returns
a `Frame` ((H, W, 3) uint8 RGB + capture time), raises `SourceError` with the fix when the device
fails and `EOFError` at the end of a finite file. Build one from a user's string with
`parse_source_spec`.
"""

from live2diff_cam.app.sources.camera import CameraInfo, CameraSource, list_cameras
from live2diff_cam.app.sources.file import FileSource
from live2diff_cam.app.sources.pacing import Pacer
from live2diff_cam.app.sources.screen import MonitorInfo, ScreenSource, WindowSource, list_monitors
from live2diff_cam.app.sources.spec import parse_source_spec
from live2diff_cam.app.sources.windows import WindowInfo, find_window, list_windows

__all__ = [
    "CameraInfo",
    "CameraSource",
    "FileSource",
    "MonitorInfo",
    "Pacer",
    "ScreenSource",
    "WindowInfo",
    "WindowSource",
    "find_window",
    "list_cameras",
    "list_monitors",
    "list_windows",
    "parse_source_spec",
]
