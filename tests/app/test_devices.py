"""`live2diff-cam devices` without camera, display or v4l2loopback: a full answer, no crash."""

from __future__ import annotations

import json
import platform

import pytest

from live2diff_cam import cli
from live2diff_cam.app.sinks import MODPROBE_FIX


@pytest.fixture
def headless(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def test_json_report_without_display(headless, capsys):
    assert cli.main(["devices", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"cameras", "monitors", "windows", "virtual_camera", "problems"}
    assert report["monitors"] == [] and report["windows"] == []
    assert report["problems"]["monitors"].startswith("no display to capture: $DISPLAY is not set")
    assert set(report["virtual_camera"]) == {"ok", "detail", "fix", "backend"}
    if platform.system() == "Linux":
        assert report["virtual_camera"]["backend"].startswith("backend v4l2loopback (Linux); ")
    for camera in report["cameras"]:
        assert set(camera) == {"index", "name", "path", "virtual"}


@pytest.mark.skipif(platform.system() != "Linux", reason="the v4l2loopback fix is Linux's")
def test_text_report_says_what_is_missing(headless, capsys, monkeypatch):
    from live2diff_cam.app.sinks import vcam_setup

    monkeypatch.setattr(
        vcam_setup, "_linux_status", lambda root: (False, "the module is not loaded", MODPROBE_FIX)
    )
    assert cli.main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Cameras (use camera:N):" in out
    assert "Monitors (use screen:N, or screen:X,Y,W,H for a region):\n  none: no display" in out
    assert "Virtual camera: NOT READY: the module is not loaded" in out
    assert f"  fix: {MODPROBE_FIX}" in out
