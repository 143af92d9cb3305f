"""Virtual camera: fit/pad geometry, pacing decisions, the pacing thread against a pyvirtualcam
test double (constant size and rate, repeats, no-signal), and the real error without
v4l2loopback."""

from __future__ import annotations

import itertools
import platform
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import pyvirtualcam

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sinks import (
    MODPROBE_FIX,
    Output,
    VirtualCameraConfig,
    VirtualCameraSink,
    choose_output,
    fit_box,
    letterbox_into,
    parse_sink_spec,
    render_card,
    vcam_setup,
)
from live2diff_cam.errors import SinkError


def _frame(width: int, height: int, rgb=(255, 0, 0), index: int = 0) -> Frame:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb
    return Frame(image, time.perf_counter_ns(), index)


# Pure parts -----------------------------------------------------------------------------------
def test_fit_box_letterbox_and_pillarbox():
    box = fit_box(1920, 1080, 1280, 720)  # same aspect: fills the camera
    assert (box.x, box.y, box.width, box.height) == (0, 0, 1280, 720)
    box = fit_box(640, 480, 1280, 720)  # 4:3 into 16:9: bars at the sides
    assert (box.x, box.y, box.width, box.height) == (160, 0, 960, 720)
    box = fit_box(1000, 100, 1280, 720)  # very wide: bars above and below
    assert (box.x, box.y, box.width, box.height) == (0, 296, 1280, 128)
    with pytest.raises(ValueError, match="sizes must be positive"):
        fit_box(0, 10, 1280, 720)


def test_letterbox_into_clears_old_bars():
    canvas = np.full((72, 128, 3), 99, np.uint8)
    box = letterbox_into(np.full((48, 64, 3), 200, np.uint8), canvas)
    assert (box.x, box.width) == (16, 96)
    assert np.all(canvas[:, :16] == 0) and np.all(canvas[:, 112:] == 0)
    assert np.all(canvas[:, 16:112] == 200)
    letterbox_into(np.full((10, 100, 3), 50, np.uint8), canvas)  # now a wide frame
    assert np.all(canvas[29:42, :16] == 50)  # the old side bars are picture now
    assert np.all(canvas[:29] == 0) and np.all(canvas[42:] == 0)


def test_choose_output():
    second = 1_000_000_000
    assert choose_output(5 * second, None, False, 2 * second) is Output.STARTING
    assert choose_output(5 * second, 4 * second, False, 2 * second) is Output.FRAME
    assert choose_output(5 * second, 2 * second, False, 2 * second) is Output.NO_SIGNAL
    assert choose_output(5 * second, 5 * second, True, 2 * second) is Output.NO_SIGNAL


def test_config_validation_messages():
    assert (VirtualCameraConfig().width, VirtualCameraConfig().height) == (1280, 720)
    assert VirtualCameraConfig().fps == 30.0
    with pytest.raises(SinkError, match=r"size 1279x720 must be even and at least 16x16"):
        VirtualCameraConfig(width=1279)
    with pytest.raises(SinkError, match=r"fps must be in \[1, 120\], got 0"):
        VirtualCameraConfig(fps=0)


def test_render_card_has_text():
    card = render_card(320, 180, "No signal", "waiting")
    assert card.shape == (180, 320, 3) and card.dtype == np.uint8
    assert card.max() > 200 and np.median(card) == 24  # bright text on a dark card


# The pacing thread with a pyvirtualcam test double ----------------------------------------------
class RecordingCamera:
    """pyvirtualcam.Camera stand-in: records (time, copy of frame) per send."""

    instances: list[RecordingCamera] = []  # noqa: RUF012
    fail_after: int | None = None

    def __init__(self, width, height, fps, *, fmt=None, device=None, backend=None):
        self.width, self.height, self.fps = width, height, fps
        self.device, self.backend = device or "/dev/video42", "test-double"
        self.sent: list[tuple[float, np.ndarray]] = []
        self.closed = False
        self._lock = threading.Lock()
        type(self).instances.append(self)

    def send(self, frame):
        assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise RuntimeError("device vanished")
        with self._lock:
            self.sent.append((time.perf_counter(), frame.copy()))

    def sleep_until_next_frame(self):
        time.sleep(1 / self.fps)

    def close(self):
        self.closed = True

    def snapshot(self):
        with self._lock:
            return list(self.sent)


@pytest.fixture
def fake_cam(monkeypatch):
    RecordingCamera.instances = []
    RecordingCamera.fail_after = None
    monkeypatch.setattr(pyvirtualcam, "Camera", RecordingCamera)
    return RecordingCamera


def test_constant_size_repeats_and_no_signal(fake_cam):
    config = VirtualCameraConfig(width=64, height=36, fps=100, no_signal_after_s=0.15)
    starting = render_card(64, 36, "Live2Diff Camera", "starting...")
    no_signal = render_card(64, 36, "No signal", "Live2Diff Camera is waiting for video")
    with VirtualCameraSink(config) as sink:
        cam = fake_cam.instances[0]
        assert (sink.device, sink.backend) == ("/dev/video42", "test-double")
        time.sleep(0.05)
        before = len(cam.snapshot())
        sink.write(_frame(32, 32, (255, 0, 0)))  # square into 16:9: pillarboxed
        time.sleep(0.08)
        sink.write(_frame(300, 20, (0, 255, 0)))  # a new size: letterboxed, same camera size
        time.sleep(0.08)
        mid = len(cam.snapshot())
        time.sleep(0.3)  # no frames for longer than no_signal_after_s
        sink.write(_frame(64, 36, (0, 0, 255)))
        time.sleep(0.05)
        sink.show_no_signal()
        time.sleep(0.05)
    sent = cam.snapshot()
    images = [image for _, image in sent]
    assert cam.closed
    assert np.array_equal(images[0], starting)
    red = [i for i in images if tuple(i[18, 32]) == (255, 0, 0)]
    assert len(red) >= 3  # the engine frame was repeated between writes
    assert np.all(red[0][:, :14] == 0) and np.all(red[0][:, 50:] == 0)  # pillarbox bars
    assert tuple(red[0][18, 20]) == (255, 0, 0)
    green = [i for i in images if tuple(i[18, 32]) == (0, 255, 0)]
    assert green and np.all(green[0][:10] == 0)  # letterbox bars
    assert any(np.array_equal(i, no_signal) for i in images[mid : mid + 40])
    assert any(tuple(i[18, 32]) == (0, 0, 255) for i in images)
    assert np.array_equal(images[-1], no_signal)  # last: forced, then the exit card
    # Paced at the camera's rate however the writes came: ~100 FPS, never a burst.
    times = [t for t, _ in sent[before:]]
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 40 < rate <= 110
    assert min(b - a for a, b in itertools.pairwise(times)) > 0.005


def test_device_failure_surfaces_on_write(fake_cam):
    fake_cam.fail_after = 2
    with VirtualCameraSink(VirtualCameraConfig(width=64, height=36, fps=100)) as sink:
        time.sleep(0.1)
        with pytest.raises(SinkError) as caught:
            sink.write(_frame(64, 36))
    assert str(caught.value) == (
        "the virtual camera /dev/video42 stopped accepting frames: device vanished. Restart "
        "streaming; if it persists, check it with `live2diff-cam doctor`."
    )
    assert fake_cam.instances[0].closed


def test_unknown_backend_message():
    with pytest.raises(SinkError, match=r'unknown virtual camera backend "nope"; use v4l2loopback'):
        VirtualCameraSink(VirtualCameraConfig(backend="nope")).__enter__()


# The real pyvirtualcam on a machine without v4l2loopback ------------------------------------------
@pytest.mark.skipif(platform.system() != "Linux", reason="v4l2loopback is Linux's backend")
def test_real_pyvirtualcam_without_v4l2loopback_gives_the_modprobe_fix():
    if Path("/sys/module/v4l2loopback").exists():
        pytest.skip("v4l2loopback is loaded here: the missing-module error cannot happen")
    sink = parse_sink_spec("vcam")
    with pytest.raises(SinkError) as caught:
        sink.__enter__()
    message = str(caught.value)
    assert message.startswith(
        "no virtual camera: the v4l2loopback kernel module is not loaded. Fix: sudo modprobe "
        'v4l2loopback devices=1 card_label="Live2Diff Camera" exclusive_caps=1 (or run '
        "packaging/linux/setup-v4l2loopback.sh"
    )
    assert "exclusive_caps=0" in message and "Zoom" in message and "Chrome" in message
    ok, detail, fix = vcam_setup.virtual_camera_status()
    assert (ok, detail) == (False, "the v4l2loopback kernel module is not loaded")
    assert fix.startswith(MODPROBE_FIX)


def test_open_error_mapping(monkeypatch):
    monkeypatch.setattr(vcam_setup.platform, "system", lambda: "Linux")
    missing = vcam_setup.open_error(
        RuntimeError("'v4l2loopback' backend: Device /dev/video9 does not exist."),
        device="/dev/video9",
        backend=None,
    )
    assert str(missing).startswith(
        "virtual camera device /dev/video9 does not exist. Leave the device unset, or pick a "
        "v4l2loopback device listed by `live2diff-cam devices`."
    )
    busy = vcam_setup.open_error(RuntimeError("device busy"), device=None, backend=None)
    assert "devices=2" in str(busy) or "modprobe v4l2loopback" in str(busy)
    monkeypatch.setattr(vcam_setup.platform, "system", lambda: "Windows")
    windows = vcam_setup.open_error(
        RuntimeError("'obs' backend: OBS Virtual Camera is not installed"),
        device=None,
        backend=None,
    )
    assert "install OBS Studio 26 or newer" in str(windows)


def _sysfs(tmp_path: Path, labels: dict[int, str], module: bool = True) -> Path:
    if module:
        (tmp_path / "module" / "v4l2loopback").mkdir(parents=True)
    for number, label in labels.items():
        node = tmp_path / "devices" / "virtual" / "video4linux" / f"video{number}"
        node.mkdir(parents=True)
        (node / "name").write_text(label + "\n")
    return tmp_path


def test_linux_status_from_sysfs(tmp_path):
    ok, detail, fix = vcam_setup._linux_status(_sysfs(tmp_path / "a", {10: "Live2Diff Camera"}))
    assert (ok, detail, fix) == (True, 'v4l2loopback devices /dev/video10 "Live2Diff Camera"', "")
    ok, detail, fix = vcam_setup._linux_status(_sysfs(tmp_path / "b", {3: "Dummy video device"}))
    assert ok and 'not "Live2Diff Camera"' in detail and fix.endswith(MODPROBE_FIX)
    ok, detail, _ = vcam_setup._linux_status(_sysfs(tmp_path / "c", {}))
    assert (ok, detail) == (False, "v4l2loopback is loaded but has no devices")
    assert vcam_setup.preferred_device(tmp_path / "a") == "/dev/video10"
    assert vcam_setup.preferred_device(tmp_path / "b") is None
