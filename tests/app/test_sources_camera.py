"""CameraSource: open failures, naming via sysfs, back-off and recovery (OpenCV replaced by a
test double), and the source spec grammar."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from live2diff_cam.app.sources import (
    CameraSource,
    FileSource,
    ScreenSource,
    WindowSource,
    camera,
    parse_source_spec,
)
from live2diff_cam.errors import SourceError


class ScriptedCapture:
    """cv2.VideoCapture stand-in: `script` is shared across reopenings; True = a frame."""

    script: ClassVar[list[bool]] = []
    opened = 0
    size = (640, 480)

    def __init__(self, index, api=None):
        type(self).opened += 1
        self.props: dict[int, float] = {}

    def isOpened(self):
        return True

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def get(self, prop):
        import cv2

        return {
            cv2.CAP_PROP_FRAME_WIDTH: self.size[0],
            cv2.CAP_PROP_FRAME_HEIGHT: self.size[1],
            cv2.CAP_PROP_FPS: 15.0,
        }.get(prop, 0.0)

    def read(self, image=None):
        ok = self.script.pop(0) if self.script else False
        if not ok:
            return False, None
        bgr = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        bgr[..., 0] = 200  # blue in BGR
        return True, bgr

    def release(self):
        pass


@pytest.fixture
def scripted(monkeypatch):
    ScriptedCapture.opened = 0
    monkeypatch.setattr(camera.cv2, "VideoCapture", ScriptedCapture)
    return ScriptedCapture


def test_reports_actual_mode_and_converts_to_rgb(scripted):
    scripted.script = [True, True]
    with CameraSource(0, width=1280, height=720, fps=30) as source:
        assert source.requested_resolution == (1280, 720)
        assert source.actual_resolution == (640, 480)
        assert source.actual_fps == 15.0
        frame = source.read()
    assert frame.image.shape == (480, 640, 3)
    assert tuple(frame.image[0, 0]) == (0, 0, 200)


def test_recovers_after_a_hiccup_with_backoff(scripted):
    scripted.script = [True, False, False, False, True, True]
    with CameraSource(0, retries=5, backoff_s=0.01, max_backoff_s=0.02) as source:
        first = source.read()
        start = time.perf_counter()
        second = source.read()  # fails; 3 retries (0.01 + 0.02 + 0.02 s), each reopening
        waited = time.perf_counter() - start
        third = source.read()
    assert [first.index, second.index, third.index] == [0, 1, 2]
    assert waited >= 0.05
    assert scripted.opened == 4  # initial open + a reopen per retry


def test_unplugged_mid_stream_gives_up_with_message(scripted):
    scripted.script = [True]
    with CameraSource(0, retries=3, backoff_s=0.005, max_backoff_s=0.01) as source:
        source.read()
        with pytest.raises(SourceError) as caught:
            source.read()
    assert str(caught.value).startswith(
        "camera 0 stopped delivering frames (unplugged or busy?) after 3 retries over "
    )
    assert str(caught.value).endswith(
        "s. Check the cable, close other apps using the camera, then start again."
    )


@pytest.mark.skipif(platform.system() != "Linux", reason="device paths are Linux's")
def test_missing_camera_message():
    if Path("/dev/video7").exists():
        pytest.skip("this machine has a /dev/video7")
    with pytest.raises(SourceError) as caught:
        CameraSource(7).__enter__()
    assert str(caught.value) == (
        "camera 7 not found: /dev/video7 does not exist. Plug the camera in, or pick another one "
        "(see `live2diff-cam devices`)."
    )


@pytest.fixture
def fake_sysfs(tmp_path, monkeypatch):
    """/sys/class/video4linux with a webcam (two nodes) and a v4l2loopback output."""
    devices = tmp_path / "devices"
    klass = tmp_path / "class"
    klass.mkdir()
    for number, name, index, parent in (
        (0, "Integrated Camera: Integrated C", "0", devices / "pci0000:00" / "usb1"),
        (1, "Integrated Camera: Integrated C", "1", devices / "pci0000:00" / "usb1"),
        (10, "Live2Diff Camera", "0", devices / "virtual" / "video4linux"),
    ):
        node = parent / f"video{number}"
        node.mkdir(parents=True)
        (node / "name").write_text(name + "\n")
        (node / "index").write_text(index + "\n")
        (klass / f"video{number}").symlink_to(node)
    monkeypatch.setattr(camera, "SYSFS_VIDEO", klass)
    monkeypatch.setattr(camera.platform, "system", lambda: "Linux")
    return klass


def test_lists_cameras_from_sysfs(fake_sysfs):
    cameras = camera._linux_cameras(fake_sysfs)
    assert [(c.index, c.path, c.virtual) for c in cameras] == [
        (0, "/dev/video0", False),
        (10, "/dev/video10", True),
    ]


def test_camera_by_name(fake_sysfs):
    assert camera.resolve_camera("integrated camera") == 0
    assert camera.resolve_camera('"Integrated"') == 0
    assert camera.resolve_camera("3") == 3
    # Our own virtual camera is never picked by name: we would be capturing ourselves.
    with pytest.raises(SourceError) as caught:
        camera.resolve_camera("Live2Diff")
    assert str(caught.value) == (
        'no camera named "Live2Diff" (cameras found: 0: "Integrated Camera: Integrated C").'
    )


def test_camera_by_name_elsewhere_says_use_index(monkeypatch):
    monkeypatch.setattr(camera.platform, "system", lambda: "Windows")
    with pytest.raises(SourceError, match=r"by name on Windows.*Use camera:INDEX"):
        camera.resolve_camera("Logitech C920")


def test_parse_source_spec_grammar(clip_path, tmp_path):
    cam = parse_source_spec("camera")
    assert isinstance(cam, CameraSource) and cam.device == 0
    cam = parse_source_spec("camera:2", size=(640, 480), fps=15)
    assert (cam.device, cam.requested_resolution, cam.requested_fps) == (2, (640, 480), 15)
    assert parse_source_spec('camera:"Logitech C920"').device == "Logitech C920"
    screen = parse_source_spec("screen")
    assert isinstance(screen, ScreenSource) and (screen.monitor, screen.region) == (1, None)
    assert parse_source_spec("screen:2").monitor == 2
    assert parse_source_spec("screen:10, 20,300,200").region == (10, 20, 300, 200)
    window = parse_source_spec('window:"My Call"')
    assert isinstance(window, WindowSource) and window.title == "My Call"
    clip = parse_source_spec(str(clip_path("again.mkv")), loop=True)
    assert isinstance(clip, FileSource) and clip.kind == "video" and clip.loop
    assert parse_source_spec(f"file:{tmp_path}").kind == "folder"
    with pytest.raises(SourceError, match=r"bad screen spec .*screen:X,Y,W,H"):
        parse_source_spec("screen:1,2")
    with pytest.raises(SourceError, match=r'unknown source "nothing-here.mp4"'):
        parse_source_spec("nothing-here.mp4")
    with pytest.raises(SourceError, match="give a title"):
        parse_source_spec("window:")
