"""Which virtual-camera backend opens: the pure choice per OS, Unity Capture's registry names,
and the sink opening through pyvirtualcam's own backend registry with test-double backends
registered in it (the Windows backends cannot load here)."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam import camera as pyvirtualcam_camera

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sinks import (
    VirtualCameraConfig,
    VirtualCameraSink,
    parse_sink_spec,
    vcam_backend,
)
from live2diff_cam.app.sinks.vcam_backend import (
    Candidate,
    choose_backend,
    describe_backend,
    unity_capture_names,
)
from live2diff_cam.errors import SinkError

OURS = "Live2Diff Camera"
WINDOWS = ("obs", "unitycapture")


@pytest.mark.parametrize(
    ("system", "available", "unity", "requested", "expected"),
    [
        # Windows, Unity Capture registered under our name: it first, OBS as the fallback.
        (
            "Windows",
            WINDOWS,
            [OURS],
            None,
            [
                Candidate("unitycapture", OURS, OURS),
                Candidate("obs", None, "OBS Virtual Camera"),
            ],
        ),
        # Registered under another name (someone else's Unity Capture): left alone.
        (
            "Windows",
            WINDOWS,
            ["Unity Video Capture"],
            None,
            [Candidate("obs", None, "OBS Virtual Camera")],
        ),
        ("Windows", WINDOWS, [], None, [Candidate("obs", None, "OBS Virtual Camera")]),
        # Asked for by name: only that backend, on our device when it is registered.
        (
            "Windows",
            WINDOWS,
            ["Unity Video Capture", OURS],
            "unitycapture",
            [Candidate("unitycapture", OURS, OURS)],
        ),
        ("Windows", WINDOWS, [OURS], "obs", [Candidate("obs", None, "OBS Virtual Camera")]),
        ("Darwin", ("obs",), [], None, [Candidate("obs", None, "OBS Virtual Camera")]),
        ("Linux", ("v4l2loopback",), [], None, [Candidate(None, "/dev/video10", OURS)]),
        (
            "Linux",
            ("v4l2loopback",),
            [],
            "v4l2loopback",
            [Candidate("v4l2loopback", "/dev/video10", OURS)],
        ),
    ],
)
def test_the_choice_per_os(system, available, unity, requested, expected):
    choice = choose_backend(
        requested,
        None,
        system=system,
        available=available,
        unity_names=unity,
        loopback_device=lambda: "/dev/video10",
    )
    assert list(choice.candidates) == expected


def test_the_reasons_say_what_to_do():
    choice = choose_backend(None, None, system="Windows", available=WINDOWS, unity_names=[])
    assert choice.reason == (
        'obs (OBS Virtual Camera); Unity Capture is not registered as "Live2Diff Camera" '
        "(packaging/windows/register-live2diff-camera.ps1 does it, so apps list the camera by "
        "our name and OBS keeps its own)"
    )
    with pytest.raises(
        SinkError,
        match=r'unknown virtual camera backend "unitycapture"; .*'
        r"Available here: v4l2loopback\.",
    ):
        choose_backend("unitycapture", None, system="Linux", available=("v4l2loopback",))


def test_unity_capture_names_come_from_its_registry_keys():
    registry = {
        "CLSID\\{5C2CD55C-92AD-4999-8666-912BD3E70010}": "Live2Diff Camera ",
        "CLSID\\{5C2CD55C-92AD-4999-8666-912BD3E70012}": "Unity Video Capture #2",
        "CLSID\\{5C2CD55C-92AD-4999-8666-912BD3E70014}": "after a gap: not a device",
    }
    assert unity_capture_names(registry.get) == ["Live2Diff Camera", "Unity Video Capture #2"]
    if platform.system() != "Windows":
        assert unity_capture_names() == []


class DoubleBackend:
    """A pyvirtualcam backend (its documented Backend interface) that records what it gets.
    `fail` makes opening raise, as Unity Capture does for an unregistered name."""

    opened: list[DoubleBackend] = []  # noqa: RUF012
    fail: str | None = None

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        if self.fail is not None:
            raise RuntimeError(self.fail)
        self.width, self.height, self.fourcc = width, height, fourcc
        self._device = device or self.default_device
        self.frames = 0
        self.closed = False
        type(self).opened.append(self)

    def send(self, frame):
        assert frame.size == self.width * self.height * 3
        self.frames += 1

    def device(self):
        return self._device

    def native_fourcc(self):
        return None

    def close(self):
        self.closed = True


class UnityDouble(DoubleBackend):
    opened: list[DoubleBackend] = []  # noqa: RUF012
    default_device = "Unity Video Capture"


class ObsDouble(DoubleBackend):
    opened: list[DoubleBackend] = []  # noqa: RUF012
    default_device = "OBS Virtual Camera"


@pytest.fixture
def windows(monkeypatch):
    """This process seen as Windows with both backends registered in pyvirtualcam's own
    registry (a copy, restored after) and Unity Capture registered as "Live2Diff Camera"."""
    monkeypatch.setattr(pyvirtualcam_camera, "BACKENDS", {})
    pyvirtualcam.register_backend("obs", ObsDouble)
    pyvirtualcam.register_backend("unitycapture", UnityDouble)
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    names = [OURS]
    monkeypatch.setattr(vcam_backend, "unity_capture_names", lambda: list(names))
    for double in (UnityDouble, ObsDouble):
        monkeypatch.setattr(double, "opened", [])
        monkeypatch.setattr(double, "fail", None)
    return names


def _write_one(sink: VirtualCameraSink) -> None:
    sink.write(Frame(np.zeros((36, 64, 3), np.uint8), 0, 0))


def test_windows_opens_unity_capture_as_live2diff_camera(windows):
    with VirtualCameraSink(VirtualCameraConfig(width=64, height=36, fps=100)) as sink:
        _write_one(sink)
        assert (sink.backend, sink.device, sink.shown_as) == ("unitycapture", OURS, OURS)
    (unity,) = UnityDouble.opened
    assert unity.closed and unity.frames >= 1
    assert ObsDouble.opened == []
    assert describe_backend() == (
        'backend unitycapture: Unity Capture is registered as "Live2Diff Camera"; apps list it '
        'as "Live2Diff Camera" (fallback: obs)'
    )


def test_windows_falls_back_to_obs_when_unity_capture_fails(windows):
    UnityDouble.fail = "No camera registered with this name."
    with VirtualCameraSink(VirtualCameraConfig(width=64, height=36, fps=100)) as sink:
        assert (sink.backend, sink.shown_as) == ("obs", "OBS Virtual Camera")
    assert UnityDouble.opened == [] and len(ObsDouble.opened) == 1


def test_windows_without_our_registration_uses_obs(windows):
    windows[:] = ["Unity Video Capture"]
    with VirtualCameraSink(VirtualCameraConfig(width=64, height=36, fps=100)) as sink:
        assert (sink.backend, sink.device) == ("obs", "OBS Virtual Camera")
    assert UnityDouble.opened == []
    assert describe_backend().startswith("backend obs (OBS Virtual Camera); Unity Capture is not")


def test_vcam_unitycapture_tries_that_backend_only(windows):
    sink = parse_sink_spec("vcam:64x36@100,unitycapture")
    assert sink.config.backend == "unitycapture"
    UnityDouble.fail = "No camera registered with this name."
    with pytest.raises(
        SinkError,
        match=r"could not open the virtual camera \(unitycapture\): 'unitycapture' backend: "
        r"No camera registered with this name\. Fix: register Unity Capture as "
        r'"Live2Diff Camera" with packaging/windows/register-live2diff-camera\.ps1',
    ):
        sink.__enter__()
    assert ObsDouble.opened == []


def test_doctor_on_windows_accepts_unity_capture_under_our_name(windows):
    from live2diff_cam.app import doctor_vcam as doctor

    check = doctor.check_virtual_camera_windows(
        registry_has=lambda clsid: False, environ={}, unity_names=lambda: [OURS]
    )
    assert (check.status, check.detail) == (
        doctor.Status.OK,
        "Unity Capture is registered as 'Live2Diff Camera' (backend unitycapture); apps list it "
        "by that name and OBS keeps its own virtual camera",
    )
    check = doctor.check_virtual_camera_windows(
        registry_has=lambda clsid: False, environ={}, unity_names=lambda: ["Unity Video Capture"]
    )
    assert check.status is doctor.Status.WARN
    assert doctor.check_camera_backend().detail == describe_backend()
