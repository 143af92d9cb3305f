"""Shared fixtures for tests/app: real clips from tests/data and a private Xvfb display.

- `clip_path`: a function, `clip_path("again.mkv") -> Path`, failing the test if that file is
  missing from tests/data (see tests/data/README.md): again.mkv (77 frames, 640x480, 30 FPS),
  again-12.gif (12 frames, 160x120, 12.5 FPS).
- `xvfb_display`: a session-wide Xvfb (640x480x24) display name such as ":93"; skips when Xvfb is
  not installed (`apt-get install -y xvfb x11-utils x11-xserver-utils`).
- `x_display`: the same, with $DISPLAY set to it for the test.
- `x_window(title, geometry, colour)`: a window of one colour on that display (xmessage).
- `frame_count(path)`: how many frames a video file plays back (OpenCV), asserting it opens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.data import data_file

XVFB_SIZE = (640, 480)


def frame_count(path: Path) -> int:
    """Frames a video file plays back; fails the test if it does not open."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not play"
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture(scope="session")
def clip_path() -> Callable[[str], Path]:
    return data_file


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb not installed: apt-get install -y xvfb x11-utils x11-xserver-utils")
    for number in range(93, 140):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            break
    display = f":{number}"
    width, height = XVFB_SIZE
    process = subprocess.Popen(
        [exe, display, "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.skip(f"Xvfb did not start on {display}")
        time.sleep(0.05)
    try:
        yield display
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def x_display(xvfb_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISPLAY", xvfb_display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return xvfb_display


@pytest.fixture
def x_window(x_display: str) -> Iterator[Callable[..., subprocess.Popen]]:
    """`x_window(title, geometry="640x480+0+0", colour="#ff0000")`: open a plain window filled
    with one colour on the test display (an xmessage whose every part is that colour; Xvfb
    ignores `xsetroot -solid`). Waits until the window is mapped; closed after the test."""
    if shutil.which("xmessage") is None or shutil.which("xwininfo") is None:
        pytest.skip("xmessage/xwininfo not installed: apt-get install -y x11-utils")
    opened: list[subprocess.Popen] = []
    env = {**os.environ, "DISPLAY": x_display}

    def open_window(
        title: str, geometry: str = "640x480+0+0", colour: str = "#ff0000"
    ) -> subprocess.Popen:
        process = subprocess.Popen(
            [
                *("xmessage", "-title", title, "-geometry", geometry),
                *("-bg", colour, "-fg", colour, "-bd", colour, " "),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        opened.append(process)
        deadline = time.monotonic() + 20
        while (
            "IsViewable"
            not in subprocess.run(
                ["xwininfo", "-name", title], env=env, capture_output=True, text=True, check=False
            ).stdout
        ):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(
                    f"test window {title!r} did not appear on {x_display} "
                    f"(xmessage exit code {process.poll()})"
                )
            time.sleep(0.05)
        return process

    yield open_window
    for process in opened:
        process.kill()
        process.wait()
