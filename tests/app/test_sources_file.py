"""FileSource and Pacer: real clips, image folders, stills, looping, pacing and errors."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from live2diff_cam.app.sources import FileSource, Pacer
from live2diff_cam.errors import SourceError


def _write_png(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> None:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = rgb[::-1]  # OpenCV writes BGR
    assert cv2.imwrite(str(path), image)


def test_real_clip_every_frame_in_order_rgb(clip_path):
    path = clip_path("again.mkv")
    reference = cv2.VideoCapture(str(path))
    ok, first_bgr = reference.read()
    reference.release()
    assert ok
    frames = []
    with FileSource(path) as source:
        assert source.fps == pytest.approx(30.0)
        while True:
            try:
                frames.append(source.read())
            except EOFError:
                break
    assert len(frames) == 77
    assert [f.index for f in frames] == list(range(77))
    stamps = [f.timestamp_ns for f in frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert frames[0].image.shape == (480, 640, 3)
    np.testing.assert_array_equal(frames[0].image, first_bgr[..., ::-1])
    # Each frame owns its pixels: the reused decode buffer must not alias the frames.
    assert not np.array_equal(frames[0].image, frames[-1].image)


def test_gif_loops_with_continuing_index(clip_path):
    with FileSource(clip_path("again-12.gif"), loop=True) as source:
        frames = [source.read() for _ in range(20)]
    assert [f.index for f in frames] == list(range(20))
    assert frames[0].image.shape == (120, 160, 3)
    np.testing.assert_array_equal(frames[0].image, frames[12].image)


def test_realtime_paces_to_fps(clip_path):
    with FileSource(clip_path("again.mkv"), realtime=True, fps=50.0) as source:
        start = time.perf_counter()
        frames = [source.read() for _ in range(6)]
        elapsed = time.perf_counter() - start
    assert elapsed >= 5 / 50 * 0.9
    gaps = [(b.timestamp_ns - a.timestamp_ns) / 1e6 for a, b in itertools.pairwise(frames)]
    # 20 ms slots; one late wake-up (a loaded CI machine) shortens the next gap, not the mean.
    assert min(gaps) >= 5.0 and sum(gaps) / len(gaps) >= 18.0


def test_folder_sorted_by_name_then_eof_or_loop(tmp_path):
    colours = {"b.png": (0, 255, 0), "a.png": (255, 0, 0), "c.png": (0, 0, 255)}
    for name, rgb in colours.items():
        _write_png(tmp_path / name, rgb)
    (tmp_path / "notes.txt").write_text("not an image")
    with FileSource(tmp_path) as source:
        seen = [tuple(source.read().image[0, 0]) for _ in range(3)]
        with pytest.raises(EOFError):
            source.read()
    assert seen == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    with FileSource(tmp_path, loop=True) as source:
        looped = [tuple(source.read().image[0, 0]) for _ in range(4)]
    assert looped[3] == (255, 0, 0)


def test_still_image_repeats_paced(tmp_path):
    _write_png(tmp_path / "still.png", (10, 20, 30))
    with FileSource(tmp_path / "still.png", fps=40.0) as source:
        assert source.realtime  # a still is paced unless told otherwise
        start = time.perf_counter()
        frames = [source.read() for _ in range(5)]
        elapsed = time.perf_counter() - start
    assert elapsed >= 4 / 40 * 0.9
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(tuple(f.image[5, 5]) == (10, 20, 30) for f in frames)


def test_missing_file_message(tmp_path):
    with pytest.raises(SourceError, match=r"^video file not found: .*nope\.mp4\. Check the path"):
        FileSource(tmp_path / "nope.mp4")


def test_undecodable_video_message(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    with pytest.raises(SourceError, match=r"could not open .*broken\.mp4 as a video.*ffmpeg"):
        FileSource(bad).__enter__()


def test_empty_folder_message(tmp_path):
    with pytest.raises(SourceError, match="holds no images"):
        FileSource(tmp_path).__enter__()


def test_pacer_does_not_burst_after_a_stall():
    pacer = Pacer(100.0)
    pacer.wait()
    time.sleep(0.1)  # ten periods late
    start = time.perf_counter()
    pacer.wait()  # late: returns at once, schedule restarts
    pacer.wait()  # next slot: one period later, not immediately
    assert time.perf_counter() - start >= 0.008
    with pytest.raises(ValueError, match="fps must be > 0"):
        Pacer(0)
