"""Preview painting and the pulling timer."""

from __future__ import annotations

import numpy as np
import pytest

from live2diff_cam.app.frames import Frame
from live2diff_cam.ui.previews import PreviewPump, PreviewWidget


def test_preview_paints_the_frame_aspect_kept(qtbot):
    view = PreviewWidget("Output", "nothing", objectName="outputPreview")
    qtbot.addWidget(view)
    view.resize(400, 200)
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[..., 0] = 200  # red
    frame[..., 2] = 40
    view.set_frame(frame)
    image = view.grab().toImage()
    centre = image.pixelColor(image.width() // 2, image.height() // 2)
    assert (centre.red(), centre.green(), centre.blue()) == (200, 0, 40)
    # Square frame in a 2:1 widget: the far left column is background, not red.
    edge = image.pixelColor(5, image.height() // 2)
    assert edge.red() != 200
    assert view.current_array() is frame  # painted in place, reference kept


def test_preview_rejects_a_wrong_layout(qtbot):
    view = PreviewWidget("Input", "nothing")
    qtbot.addWidget(view)
    with pytest.raises(ValueError, match="uint8 RGB"):
        view.set_frame(np.zeros((10, 10), np.uint8))


def test_pump_shows_new_frames_only(qtbot):
    inp, out = PreviewWidget("In", ""), PreviewWidget("Out", "")
    qtbot.addWidget(inp)
    qtbot.addWidget(out)
    frames = {"in": None, "out": None}
    pump = PreviewPump(lambda: (frames["in"], frames["out"]), inp, out, interval_ms=5)
    image = np.full((8, 8, 3), 9, np.uint8)
    frames["in"] = Frame(image, 1, 0)
    pump.tick()
    pump.tick()  # same frame: not repainted
    assert inp.frames_shown == 1 and out.frames_shown == 0
    frames["out"] = Frame(image, 2, 1)
    pump.start()
    qtbot.waitUntil(lambda: out.frames_shown == 1)
    pump.stop()
    assert not pump.is_active()


def test_pump_relays_fetch_failure(qtbot):
    inp, out = PreviewWidget("In", ""), PreviewWidget("Out", "")
    qtbot.addWidget(inp)
    qtbot.addWidget(out)

    def broken():
        raise RuntimeError("preview gone")

    pump = PreviewPump(broken, inp, out)
    with qtbot.waitSignal(pump.failed) as blocker:
        pump.tick()
    assert blocker.args == ["preview gone"]
