"""Video sinks: the virtual camera, a video recorder, a PNG folder, the GUI preview, and a group.

Every sink follows `live2diff_cam.app.frames.Sink`: a context manager whose `write(frame)` takes
a `Frame` ((H, W, 3) uint8 RGB) and raises `SinkError` with the fix when the device or disk
fails. Build one from a user's string with `parse_sink_spec`; check the virtual camera's setup
with `virtual_camera_status()`.
"""

from live2diff_cam.app.sinks.group import SinkGroup
from live2diff_cam.app.sinks.letterbox import FitBox, fit_box, letterbox_into
from live2diff_cam.app.sinks.pacing import (
    Output,
    PacedFrames,
    PacedSink,
    choose_output,
    render_card,
)
from live2diff_cam.app.sinks.preview import PreviewSink
from live2diff_cam.app.sinks.recorder import PngFolderSink, RecorderSink
from live2diff_cam.app.sinks.spec import parse_sink_spec
from live2diff_cam.app.sinks.vcam import VirtualCameraConfig, VirtualCameraSink
from live2diff_cam.app.sinks.vcam_setup import (
    CAMERA_LABEL,
    MODPROBE_FIX,
    LoopbackDevice,
    find_loopback_devices,
    virtual_camera_status,
)

__all__ = [
    "CAMERA_LABEL",
    "MODPROBE_FIX",
    "FitBox",
    "LoopbackDevice",
    "Output",
    "PacedFrames",
    "PacedSink",
    "PngFolderSink",
    "PreviewSink",
    "RecorderSink",
    "SinkGroup",
    "VirtualCameraConfig",
    "VirtualCameraSink",
    "choose_output",
    "find_loopback_devices",
    "fit_box",
    "letterbox_into",
    "parse_sink_spec",
    "render_card",
    "virtual_camera_status",
]
