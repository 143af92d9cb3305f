"""Screen, region and window capture on a private Xvfb display (skipped without Xvfb), and the
display-missing fault. Known patterns are drawn as one-colour windows (x_window fixture)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from live2diff_cam.app import devices
from live2diff_cam.app.sources import ScreenSource, WindowSource, find_window, list_monitors
from live2diff_cam.errors import SourceError

WINDOW_TITLE = "Live2Diff Test Window"


def test_no_display_message(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceError) as caught:
        ScreenSource(1).__enter__()
    assert str(caught.value) == (
        "no display to capture: $DISPLAY is not set (headless or over SSH?). Run inside a desktop "
        "session, or set DISPLAY=:0."
    )


def test_captures_what_is_on_screen(x_window):
    x_window("red", "640x480+0+0", "#ff0000")
    with ScreenSource(1, fps=100) as source:
        red = source.read()
        x_window("blue", "200x100+300+200", "#0000ff")
        blue = source.read()
    assert red.image.shape == (480, 640, 3)
    assert tuple(red.image[240, 320]) == (255, 0, 0)
    assert tuple(blue.image[250, 400]) == (0, 0, 255)  # inside the blue window
    assert tuple(blue.image[50, 50]) == (255, 0, 0)  # outside it
    assert blue.index == red.index + 1 and blue.timestamp_ns > red.timestamp_ns


def test_region_and_other_thread(x_window):
    x_window("green", "640x480+0+0", "#00ff00")
    with ScreenSource(region=(10, 20, 100, 50), fps=100) as source:
        here = source.read()
        there: list = []
        reader = threading.Thread(target=lambda: there.append(source.read()))
        reader.start()
        reader.join()
        # The other thread got its own mss object: they are thread-bound on Windows.
        assert len(source._opened) == 2
    assert here.image.shape == (50, 100, 3) and there[0].image.shape == (50, 100, 3)
    assert tuple(there[0].image[25, 50]) == (0, 255, 0)
    assert source._opened == []


def test_bad_monitor_and_region_messages(x_display):
    with pytest.raises(SourceError) as caught:
        ScreenSource(3).__enter__()
    assert str(caught.value) == (
        "monitor 3 does not exist: this display has 1 monitor(s), numbered 1..1 (0 = all "
        "together). See `live2diff-cam devices`."
    )
    with pytest.raises(SourceError, match=r"screen region \(600, 0, 100, 100\) .* lies outside"):
        ScreenSource(region=(600, 0, 100, 100)).__enter__()
    assert [(m.index, m.width, m.height) for m in list_monitors()] == [(1, 640, 480)]


def test_follows_window_until_closed(x_window):
    x_window("backdrop", "640x480+0+0", "#ff0000")
    process = x_window(WINDOW_TITLE, "120x80+50+60", "#0000ff")
    info = find_window(WINDOW_TITLE)
    assert (info.left, info.top, info.width, info.height) == (50, 60, 120, 80)
    with WindowSource("test window", fps=100, refresh_s=0.0) as source:
        frame = source.read()
        assert frame.image.shape == (80, 120, 3)
        # Exactly the window's pixels: all blue, none of the red backdrop around it.
        assert np.all(frame.image == (0, 0, 255))
        process.kill()
        process.wait()
        time.sleep(0.1)
        with pytest.raises(SourceError) as caught:
            source.read()
    assert str(caught.value) == (
        'window "test window" was closed (or minimised). Open it again and restart, or pick '
        "another source."
    )


def test_unknown_window_message(x_window):
    with pytest.raises(SourceError) as caught:
        WindowSource("No Such Window 123").__enter__()
    assert str(caught.value) == (
        'no window titled "No Such Window 123" is open. Open it first; `live2diff-cam devices` '
        "lists the windows that can be followed."
    )


def test_devices_lists_monitor_and_window(x_window):
    x_window(WINDOW_TITLE, "120x80+50+60", "#0000ff")
    report = devices.collect()
    assert report["monitors"] == [{"index": 1, "left": 0, "top": 0, "width": 640, "height": 480}]
    ours = next(w for w in report["windows"] if w["title"] == WINDOW_TITLE)
    assert (ours["left"], ours["top"], ours["width"], ours["height"]) == (50, 60, 120, 80)
    text = devices.format_report(report)
    assert "screen:1  640x480 at 0,0" in text
    assert f'window:"{WINDOW_TITLE}"  120x80 at 50,60' in text
