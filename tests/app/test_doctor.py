"""Each doctor check driven with stand-in inputs, then the whole report on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from live2diff_cam import cli
from live2diff_cam.app import doctor, doctor_display, doctor_runtime, doctor_vcam
from live2diff_cam.app.doctor_check import Check, Status


def _raise(error: Exception):
    def importer(*args: object):
        raise error

    return importer


# --- the record and the report -----------------------------------------------------------


def test_check_refuses_a_problem_without_a_fix():
    with pytest.raises(ValueError, match="gives no fix"):
        Check("cuda", Status.FAIL, "no GPU")
    assert Check("cuda", "WARN", "x", "y").status is Status.WARN


def test_exit_code_is_one_only_when_something_fails():
    ok = Check("python", Status.OK, "3.11")
    warn = Check("virtual-camera", Status.WARN, "not loaded", "modprobe")
    fail = Check("cuda", Status.FAIL, "no GPU", "get one")
    assert doctor.exit_code([ok, warn]) == 0
    assert doctor.exit_code([ok, warn, fail]) == 1
    report = doctor.format_report([ok, warn, fail])
    lines = report.splitlines()
    assert lines[0].startswith("OK    python")
    assert lines[2].strip() == "fix: modprobe"
    assert lines[-1].startswith("FAIL: cuda (essential)")
    data = json.loads(doctor.report_json([ok, fail]))
    assert data["ok"] is False
    assert [c["status"] for c in data["checks"]] == ["OK", "FAIL"]


# --- python and packages -----------------------------------------------------------------


def test_python_version():
    assert doctor_runtime.check_python((3, 11, 7)).status is Status.OK
    old = doctor_runtime.check_python((3, 9, 18))
    assert old.status is Status.FAIL
    assert "3.9.18" in old.detail and ">= 3.10" in old.fix


def test_package_import_failure_is_essential_and_names_the_fix():
    check = doctor_runtime.check_package(
        "cv2", ("opencv-python-headless",), "video", importer=_raise(OSError("libGL.so.1: nope"))
    )
    assert check.status is Status.FAIL
    assert "import cv2" in check.detail and "libGL.so.1" in check.detail
    assert "pip install --force-reinstall opencv-python-headless" in check.fix


def test_package_ok_reports_the_distribution_version():
    check = doctor_runtime.check_package(
        "mss",
        ("mss",),
        "screen",
        importer=lambda n: SimpleNamespace(),
        version_of=lambda d: ("mss", "10.2.0"),
    )
    assert (check.status, check.detail) == (Status.OK, "mss 10.2.0 (screen)")


def test_conflicting_wheels_are_flagged():
    installed = {"onnxruntime", "onnxruntime-gpu", "opencv-python", "PySide6-Essentials"}
    checks = doctor_runtime.check_conflicting_distributions(installed.__contains__)
    assert [c.name for c in checks] == ["onnxruntime-conflict", "opencv-conflict"]
    assert "opencv-python-headless" in checks[1].fix
    assert doctor_runtime.check_conflicting_distributions({"onnxruntime-gpu"}.__contains__) == []


# --- torch device ------------------------------------------------------------------------


def _torch(available: bool, cuda_build: str | None = "13.0", memory_gib: float = 24.0):
    props = SimpleNamespace(
        name="NVIDIA RTX 4090", total_memory=int(memory_gib * 2**30), major=8, minor=9
    )
    cuda = SimpleNamespace(
        is_available=lambda: available,
        get_device_properties=lambda i: props,
        device_count=lambda: 1,
    )
    mps = SimpleNamespace(is_available=lambda: False)
    return SimpleNamespace(
        cuda=cuda,
        version=SimpleNamespace(cuda=cuda_build),
        backends=SimpleNamespace(mps=mps),
        __version__="2.13.0",
    )


def test_cuda_device_ok_names_gpu_and_memory():
    check = doctor_runtime.check_torch_device(lambda n: _torch(True))
    assert check.status is Status.OK
    assert (
        "NVIDIA RTX 4090" in check.detail and "24.0 GiB" in check.detail and "sm_89" in check.detail
    )


def test_small_gpu_warns():
    check = doctor_runtime.check_torch_device(lambda n: _torch(True, memory_gib=4.0))
    assert check.status is Status.WARN and "4.0 GiB" in check.detail


def test_cpu_torch_build_fails_with_the_gpu_sentence():
    check = doctor_runtime.check_torch_device(lambda n: _torch(False, cuda_build=None))
    assert check.status is Status.FAIL
    assert "CPU-only build" in check.detail
    assert "streaming at usable speed needs an NVIDIA GPU" in check.fix
    assert "tiny test model" in check.fix and "download.pytorch.org/whl/cu" in check.fix


def test_cuda_build_without_device_points_at_the_driver():
    check = doctor_runtime.check_torch_device(lambda n: _torch(False, cuda_build="13.0"))
    assert check.status is Status.FAIL and "nvidia-smi" in check.fix


def test_broken_torch_import_fails_without_raising():
    check = doctor_runtime.check_torch_device(_raise(ImportError("libcudart.so.13 missing")))
    assert check.status is Status.FAIL and "libcudart" in check.detail


# --- onnxruntime -------------------------------------------------------------------------


def test_tiny_onnx_model_is_a_valid_model():
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(doctor_runtime.tiny_onnx_model())
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Relu"]
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 4


def test_onnxruntime_real_session_here_reports_the_provider_really_used():
    check = doctor_runtime.check_onnxruntime(want_cuda=False)
    # This machine has no GPU: the session must have run on the CPU provider.
    assert check.status is Status.WARN
    assert "CPUExecutionProvider" in check.detail and "depth runs on the CPU" in check.detail


class _FakeOrt:
    __version__ = "1.31.1"

    def __init__(self, used: list[str]):
        self.used = used

    def get_available_providers(self):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def preload_dlls(self):
        return None

    def set_default_logger_severity(self, level):
        return None

    def SessionOptions(self):
        return SimpleNamespace(log_severity_level=2)

    def InferenceSession(self, model, options, providers):
        import numpy as np

        used = self.used
        return SimpleNamespace(
            get_providers=lambda: used,
            run=lambda names, feeds: [np.maximum(feeds["x"], 0)],
        )


def test_onnxruntime_on_cuda_is_ok():
    fake = _FakeOrt(["CUDAExecutionProvider", "CPUExecutionProvider"])
    check = doctor_runtime.check_onnxruntime(lambda n: fake, want_cuda=True)
    assert check.status is Status.OK and "runs on CUDA" in check.detail


def test_onnxruntime_cpu_fallback_with_a_gpu_warns_about_cudnn():
    check = doctor_runtime.check_onnxruntime(
        lambda n: _FakeOrt(["CPUExecutionProvider"]), want_cuda=True
    )
    assert check.status is Status.WARN
    assert "fell back" in check.detail and "cuDNN 9" in check.fix


# --- virtual camera ----------------------------------------------------------------------


def test_linux_virtual_camera_comes_from_the_sinks_probe():
    ready = doctor_vcam.check_virtual_camera_linux(
        lambda: (True, 'v4l2loopback devices /dev/video10 "Live2Diff Camera"', "")
    )
    assert ready.status is Status.OK and "/dev/video10" in ready.detail
    unlabelled = doctor_vcam.check_virtual_camera_linux(
        lambda: (True, "devices /dev/video0", "relabel it")
    )
    assert (unlabelled.status, unlabelled.fix) == (Status.WARN, "relabel it")
    missing = doctor_vcam.check_virtual_camera_linux(
        lambda: (False, "v4l2loopback is not loaded", "")
    )
    assert missing.status is Status.WARN and "preview and recording still work" in missing.detail
    assert missing.fix.startswith(
        'sudo modprobe v4l2loopback devices=1 card_label="Live2Diff Camera"'
    )


def test_linux_virtual_camera_here_gives_the_modprobe_line_and_the_trade_off():
    if Path("/sys/module/v4l2loopback").exists():
        pytest.skip("v4l2loopback is loaded on this machine")
    check = doctor_vcam.check_virtual_camera("Linux")
    assert check.status is Status.WARN and "not loaded" in check.detail
    assert (
        'sudo modprobe v4l2loopback devices=1 card_label="Live2Diff Camera" exclusive_caps=1'
        in check.fix
    )
    assert "exclusive_caps=0" in check.fix and "Zoom" in check.fix


def test_windows_obs_filter(tmp_path):
    seen = []

    def registry_has(clsid):
        seen.append(clsid)
        return True

    ok = doctor_vcam.check_virtual_camera_windows(registry_has, environ={})
    assert ok.status is Status.OK and "OBS Virtual Camera" in ok.detail
    assert seen == ["{A3FCE0F5-3493-419F-958A-ABA1250EC20B}"]
    missing = doctor_vcam.check_virtual_camera_windows(
        lambda c: False, environ={"ProgramFiles": str(tmp_path)}
    )
    assert missing.status is Status.WARN and "Start Virtual Camera" in missing.fix


def test_macos_system_extension_dal_plugin_and_nothing(tmp_path):
    extensions = tmp_path / "SystemExtensions"
    dal = tmp_path / "DAL" / "obs-mac-virtualcam.plugin"
    assert doctor_vcam.check_virtual_camera_macos(dal, [extensions]).status is Status.WARN
    dal.mkdir(parents=True)
    old = doctor_vcam.check_virtual_camera_macos(dal, [extensions])
    assert old.status is Status.WARN and "DAL" in old.detail
    (extensions / "ABCD-1234" / doctor_vcam.OBS_MAC_EXTENSION).mkdir(parents=True)
    assert doctor_vcam.check_virtual_camera_macos(dal, [extensions]).status is Status.OK


# --- display -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "status", "needle"),
    [
        ({}, Status.WARN, "no display"),
        ({"WAYLAND_DISPLAY": "wayland-0"}, Status.WARN, "without XWayland"),
        (
            {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"},
            Status.OK,
            "2 monitor(s) on X11 display :0 (XWayland",
        ),
        ({"DISPLAY": ":1"}, Status.OK, "2 monitor(s) on X11 display :1"),
    ],
)
def test_screen_capture_on_linux(environ, status, needle):
    check = doctor_display.check_screen_capture("Linux", environ, count_monitors=lambda: 2)
    assert check.status is status and needle in check.detail


def test_screen_capture_that_cannot_open_the_display_warns():
    check = doctor_display.check_screen_capture(
        "Linux", {"DISPLAY": ":0"}, count_monitors=_raise(RuntimeError("XOpenDisplay() failed"))
    )
    assert (
        check.status is Status.WARN and "XOpenDisplay" in check.detail and "XAUTHORITY" in check.fix
    )
    mac = doctor_display.check_screen_capture(
        "Darwin", {}, count_monitors=_raise(RuntimeError("denied"))
    )
    assert "Screen Recording" in mac.fix


def test_qt_platform_offscreen_and_no_display():
    assert (
        doctor_display.check_qt_platform("Linux", {"QT_QPA_PLATFORM": "offscreen"}).status
        is Status.OK
    )
    headless = doctor_display.check_qt_platform("Linux", {})
    assert headless.status is Status.WARN and "live2diff-cam run" in headless.fix


def test_qt_platform_missing_xcb_library_names_the_package(tmp_path):
    (tmp_path / "libqxcb.so").write_bytes(b"")
    broken = doctor_display.check_qt_platform(
        "Linux",
        {"DISPLAY": ":0"},
        plugin_dir=tmp_path,
        dlopen_error=lambda p: "libxcb-cursor.so.0: cannot open shared object file",
    )
    assert broken.status is Status.WARN and "libxcb-cursor0" in broken.fix
    fine = doctor_display.check_qt_platform(
        "Linux", {"DISPLAY": ":0"}, plugin_dir=tmp_path, dlopen_error=lambda p: ""
    )
    assert fine.status is Status.OK and "'xcb'" in fine.detail


# --- model cache -------------------------------------------------------------------------


def test_model_cache_reports_free_space_and_missing_models(tmp_path):
    usage = SimpleNamespace(free=3 * 2**30)
    check = doctor.check_model_cache(
        tmp_path / "hub", disk_usage=lambda p: usage, cached_models=lambda p: (["taesd"], ["sd15"])
    )
    assert check.status is Status.WARN
    assert "3.0 GiB free" in check.detail and "less than 8 GiB" in check.detail
    assert "cached: taesd; missing: sd15" in check.detail
    roomy = SimpleNamespace(free=100 * 2**30)
    done = doctor.check_model_cache(
        tmp_path, disk_usage=lambda p: roomy, cached_models=lambda p: (["sd15"], [])
    )
    assert done.status is Status.OK


# --- the whole report on this machine ----------------------------------------------------


def test_doctor_here_text_and_json_agree(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path / "cfg"))
    code = cli.main(["doctor"])
    text = capsys.readouterr().out
    # As the README says: where settings.toml and a user's presets.toml live.
    assert f"Config directory: {tmp_path / 'cfg'} (settings.toml, presets.toml)" in text
    assert cli.main(["doctor", "--json"]) == code
    data = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in data["checks"]]
    assert {
        "python",
        "torch",
        "cuda",
        "onnxruntime",
        "virtual-camera",
        "qt-platform",
        "model-cache",
    } <= set(names)
    for check in data["checks"]:
        assert f"{check['status']:<4}  {check['name']}" in text
    import torch

    if not torch.cuda.is_available():
        assert code == 1 and data["ok"] is False
        assert text.splitlines()[-1].startswith("FAIL: cuda")
