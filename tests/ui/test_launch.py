"""`live2diff-cam gui`: the headless message, and a real run that writes a screenshot."""

from __future__ import annotations

import argparse
import os

import pytest
from PySide6.QtGui import QImage

from live2diff_cam.ui import launch


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    launch.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_without_a_display_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(launch.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert launch.main(_args()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "live2diff-cam run" in err and "QT_QPA_PLATFORM=offscreen" in err


def test_has_display():
    assert launch.has_display(
        {"QT_QPA_PLATFORM": "offscreen"}
    ) or not launch.sys.platform.startswith("linux")
    if launch.sys.platform.startswith("linux"):
        assert not launch.has_display({})
        assert launch.has_display({"WAYLAND_DISPLAY": "wayland-0"})


def test_screenshot_then_quit(qapp, clip, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path / "config"))
    assert os.environ["QT_QPA_PLATFORM"]
    shot = tmp_path / "shot.png"
    args = _args(
        "--model", "tiny", "--source", f"file:{clip}", "--height", "64", "--width", "64",
        "--screenshot", str(shot), "--quit-after", "2",
    )  # fmt: skip
    try:
        assert launch.main(args) == 0
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    image = QImage(str(shot))
    # The offscreen screen is 800 pixels wide: the window fits inside it, previews and all.
    assert 700 <= image.width() <= 800 and image.height() >= 500
    saved = (tmp_path / "config" / "settings.toml").read_text()
    assert f'source = "file:{clip}"' in saved


def test_damaged_user_files_do_not_keep_the_window_shut(qapp, clip, tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    damaged = b'preset = "Photo"\nsinks = 5\n'
    (config / "settings.toml").write_bytes(damaged)
    (config / "presets.toml").write_text('[[preset]]\nname = "Mine"\nmodel = 42\n')
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(config))
    args = _args(
        "--model", "tiny", "--source", f"file:{clip}", "--height", "64", "--width", "64",
        "--screenshot", str(tmp_path / "shot.png"), "--quit-after", "1",
    )  # fmt: skip
    try:
        assert launch.main(args) == 0
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    (aside,) = config.glob("settings.toml.bad-*")
    assert aside.read_bytes() == damaged  # kept for the user, not overwritten by the save
    assert f'source = "file:{clip}"' in (config / "settings.toml").read_text()


def test_bad_size_is_a_message(capsys, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert launch.main(_args("--height", "100")) == 2
    assert "multiples of 8" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1"])
def test_quit_after_must_be_positive(value, capsys, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert launch.main(_args("--quit-after", value)) == 2
