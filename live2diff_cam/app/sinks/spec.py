"""`parse_sink_spec`: the one grammar that turns a user's output string into a Sink.

Used by `run` and the session so the CLI and the settings file agree. Knows the grammar only;
each sink class owns its own behaviour.
"""

from __future__ import annotations

import re
from pathlib import Path

from live2diff_cam.app.frames import Sink
from live2diff_cam.app.sinks.recorder import FOURCC_BY_SUFFIX, PngFolderSink, RecorderSink
from live2diff_cam.app.sinks.vcam import VirtualCameraConfig, VirtualCameraSink
from live2diff_cam.app.sinks.vcam_backend import KNOWN_BACKENDS
from live2diff_cam.errors import SinkError

_SIZE_FPS = re.compile(r"^(?:(\d+)x(\d+))?(?:@(\d+(?:\.\d+)?))?$")


def _parse_vcam(options: str, spec: str) -> VirtualCameraSink:
    fields: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in options.split(","))):
        key, eq, value = part.partition("=")
        if eq and key in ("device", "backend"):
            fields[key] = value
            continue
        if part in KNOWN_BACKENDS:  # vcam:unitycapture is short for vcam:backend=unitycapture
            fields["backend"] = part
            continue
        match = _SIZE_FPS.match(part)
        if eq or match is None or not any(match.groups()):
            raise SinkError(
                f'bad virtual camera spec "{spec}": use vcam, vcam:1280x720@30, vcam:@30, '
                "vcam:1280x720,device=/dev/video10,backend=v4l2loopback"
            )
        width, height, fps = match.groups()
        if width:
            fields["width"], fields["height"] = int(width), int(height)
        if fps:
            fields["fps"] = float(fps)
    return VirtualCameraSink(VirtualCameraConfig(**fields))  # type: ignore[arg-type]


def parse_sink_spec(spec: str, *, fps: float = 30.0) -> Sink:
    """Build the (unopened) sink a spec names. Grammar:

        vcam[:OPTIONS]          the virtual camera "Live2Diff Camera"; OPTIONS, comma-separated:
                                WIDTHxHEIGHT@FPS | WIDTHxHEIGHT | @FPS (default 1280x720@30),
                                device=/dev/video10, backend=v4l2loopback|obs|unitycapture
                                (or just the backend: vcam:unitycapture)
                                e.g. vcam:1920x1080@30,device=/dev/video4
        png:FOLDER | FOLDER/    a folder of PNGs, frame_000000.png, ... (created if needed);
                                an existing folder works without the trailing slash
        PATH.mp4|.mkv|.mov|.avi a video file recorded at `fps` (mp4v; MJPG for .avi)

    Raises SinkError for anything else.
    """
    text = spec.strip()
    head, sep, rest = text.partition(":")
    if head.lower() == "vcam":
        return _parse_vcam(rest if sep else "", spec)
    if head.lower() == "png" and sep:
        return PngFolderSink(Path(rest).expanduser())
    if text.endswith(("/", "\\")) or Path(text).expanduser().is_dir():
        return PngFolderSink(Path(text).expanduser())
    path = Path(text).expanduser()
    if path.suffix.lower() in FOURCC_BY_SUFFIX:
        return RecorderSink(path, fps=fps)
    raise SinkError(
        f'unknown output "{spec}": use vcam[:1280x720@30], a folder ending in / for PNGs, or a '
        f"video path ending in {', '.join(sorted(FOURCC_BY_SUFFIX))}."
    )
