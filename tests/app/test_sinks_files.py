"""Recorder, PNG folder, preview and sink group: a real clip end to end, disk faults, Ctrl-C,
and the sink spec grammar."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import sys
import threading
import time
from collections import namedtuple

import cv2
import numpy as np
import pytest

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sinks import (
    PngFolderSink,
    PreviewSink,
    RecorderSink,
    SinkGroup,
    VirtualCameraSink,
    disk_space,
    parse_sink_spec,
    recorder,
)
from live2diff_cam.app.sources import FileSource
from live2diff_cam.errors import SinkError


def _frame(width=64, height=48, value=128, index=0) -> Frame:
    return Frame(np.full((height, width, 3), value, np.uint8), time.perf_counter_ns(), index)


def _count_frames(path) -> tuple[int, int, int]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open in OpenCV"
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, *size


def test_real_clip_through_file_source_into_recorder_and_pngs(clip_path, tmp_path):
    video, pngs = tmp_path / "out.mp4", tmp_path / "frames"
    frames = []
    with (
        FileSource(clip_path("again.mkv")) as source,
        SinkGroup([RecorderSink(video, fps=source.fps), PngFolderSink(pngs)]) as sinks,
    ):
        while True:
            try:
                frame = source.read()
            except EOFError:
                break
            frames.append(frame)
            sinks.write(frame)
    assert len(frames) == 77
    assert all(b.timestamp_ns > a.timestamp_ns for a, b in itertools.pairwise(frames))
    assert _count_frames(video) == (77, 640, 480)
    names = sorted(p.name for p in pngs.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(77)]
    # PNG is lossless: frame 40 comes back exactly.
    back = cv2.cvtColor(cv2.imread(str(pngs / "frame_000040.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, frames[40].image)


def test_avi_and_off_size_frames_are_letterboxed(tmp_path):
    path = tmp_path / "clip.avi"
    with RecorderSink(path, fps=10) as sink:
        sink.write(_frame(64, 48, 200))
        sink.write(_frame(32, 48, 200))  # narrower: pillarboxed into 64x48
        assert sink.size == (64, 48) and sink.frames_written == 2
    capture = cv2.VideoCapture(str(path))
    capture.read()
    ok, second = capture.read()
    assert ok and second.shape == (48, 64, 3)
    assert second[24, 2].max() < 40 and second[24, 32].min() > 160  # bar, then picture


def test_no_frames_leaves_no_empty_file(tmp_path):
    with RecorderSink(tmp_path / "empty.mp4"):
        pass
    assert not (tmp_path / "empty.mp4").exists()


def test_unwritable_path_names_path_and_reason(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    target = blocker / "out.mp4"
    with pytest.raises(SinkError) as caught:
        RecorderSink(target).__enter__()
    assert str(caught.value) == (
        f"cannot write {target}: folder {blocker} cannot be created (File exists). "
        "Choose another location."
    )
    with pytest.raises(SinkError, match=r"unknown video type '\.txt'"):
        RecorderSink(tmp_path / "out.txt")


def test_disk_filling_up_stops_the_recording_in_time_and_it_still_plays(tmp_path, monkeypatch):
    path = tmp_path / "full.mp4"
    usage = namedtuple("usage", "total used free")
    partial = recorder.partial_path(path)
    # A 1 GiB disk (64 MB reserve) with 300 kB above the reserve, filled by what is written.
    room = 300_000
    free_at_start = disk_space.MAX_RESERVE_BYTES + room

    def disk_usage(_folder):
        return usage(2**30, 0, free_at_start - disk_space.file_size(partial))

    monkeypatch.setattr(disk_space.shutil, "disk_usage", disk_usage)
    rng = np.random.default_rng(0)
    with pytest.raises(SinkError) as caught, RecorderSink(path, fps=30) as sink:
        for i in range(1000):
            noise = rng.integers(0, 256, (120, 160, 3), np.uint8)  # noise: frames of some kB
            sink.write(Frame(noise, time.perf_counter_ns(), i))
    assert re.fullmatch(
        rf"stopped writing {re.escape(str(path))}: the disk is full \(63 MB free, 64 MB "
        r"needed\)\. Free some space or record elsewhere\.",
        str(caught.value),
    )
    # It stopped as the reserve was reached: past it by no more than the writer buffers
    # (what reaches the disk lags what was handed over), a sliver of the 64 MB kept free.
    assert room <= disk_space.file_size(path) < room + 256 * 1024
    frames = _count_frames(path)[0]
    assert 1 <= frames == sink.frames_written < 1000
    assert not partial.exists()


def test_a_recording_that_cannot_be_finalised_leaves_the_old_file(tmp_path):
    path = tmp_path / "take.mp4"
    path.write_bytes(b"an earlier recording")
    with pytest.raises(SinkError) as caught, RecorderSink(path, fps=30) as sink:
        for i in range(10):
            sink.write(_frame(value=i * 20, index=i))
        # The writer's file is lost before it is finalised (removed, or cut by a full disk).
        sink.partial.unlink()
    assert str(caught.value) == (
        f"could not finalise the recording {path}: 10 frames were written, but the file does "
        f"not play (the disk was full or the file was removed); {path} was left as it was."
    )
    assert path.read_bytes() == b"an earlier recording"
    assert not sink.partial.exists()


def test_an_existing_file_is_replaced_only_by_a_finished_recording(tmp_path):
    path = tmp_path / "take.mp4"
    path.write_bytes(b"an earlier recording")
    with RecorderSink(path, fps=30) as sink:
        sink.write(_frame())
        assert path.read_bytes() == b"an earlier recording"  # untouched while recording
        assert sink.partial.parent == tmp_path and sink.partial.name.startswith(".take.mp4.")
    assert _count_frames(path) == (1, 64, 48)
    with RecorderSink(path, fps=30):
        pass  # no frame: the recording above stays
    assert _count_frames(path) == (1, 64, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.mp4"]


def test_a_folder_that_takes_no_files_fails_at_open(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(disk_space.tempfile, "NamedTemporaryFile", refuse)
    for sink in (RecorderSink(tmp_path / "out.mp4"), PngFolderSink(tmp_path / "pngs")):
        with pytest.raises(SinkError, match=r"does not take new files \(Permission denied\)"):
            sink.__enter__()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs"]


def test_png_write_failure_message(tmp_path):
    folder = tmp_path / "pngs"
    with PngFolderSink(folder) as sink:
        sink.write(_frame())
        folder.rename(tmp_path / "moved")  # the folder vanishes mid-stream
        with pytest.raises(SinkError) as caught:
            sink.write(_frame())
    assert str(caught.value) == (
        f"could not write {folder / 'frame_000001.png'}: the folder was removed. Choose another "
        "folder."
    )


CTRL_C_SCRIPT = """
import sys, time
from live2diff_cam.app.sinks import RecorderSink
from live2diff_cam.app.sources import FileSource
with FileSource(sys.argv[1], loop=True) as source, RecorderSink(sys.argv[2]) as sink:
    while True:
        sink.write(source.read())
        if sink.frames_written == 20:
            print("ready", flush=True)
        time.sleep(0.002)
"""


def test_ctrl_c_finalises_a_playable_recording(clip_path, tmp_path):
    out = tmp_path / "interrupted.mp4"
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(clip_path("again.mkv")), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert "KeyboardInterrupt" in stderr
    frames, width, height = _count_frames(out)
    assert frames >= 20 and (width, height) == (640, 480)


def test_preview_latest_and_sequence():
    preview = PreviewSink()
    assert preview.latest_with_sequence() == (0, None)
    with preview:
        writer = threading.Thread(
            target=lambda: [preview.write(_frame(index=i)) for i in range(200)]
        )
        writer.start()
        seen = []
        while writer.is_alive():
            seen.append(preview.sequence)
        writer.join()
        sequence, latest = preview.latest_with_sequence()
    assert seen == sorted(seen)  # only grows
    assert sequence == 200 and latest is not None and latest.index == 199
    assert preview.latest() is latest


class _Sink:
    def __init__(self, name, log, fail_open=False, fail_write=False):
        self.name, self.log, self.fail_open, self.fail_write = name, log, fail_open, fail_write

    def __enter__(self):
        if self.fail_open:
            raise SinkError(f"{self.name} cannot open")
        self.log.append(f"open {self.name}")
        return self

    def __exit__(self, *exc):
        self.log.append(f"close {self.name}")

    def write(self, frame):
        if self.fail_write:
            raise SinkError(f"{self.name} failed")
        self.log.append(f"write {self.name} {frame.index}")


def test_group_opens_all_or_none_and_writes_every_sink():
    log: list[str] = []
    with pytest.raises(SinkError, match="c cannot open"):
        SinkGroup([_Sink("a", log), _Sink("b", log), _Sink("c", log, fail_open=True)]).__enter__()
    assert log == ["open a", "open b", "close b", "close a"]
    log.clear()
    group = SinkGroup([_Sink("a", log, fail_write=True), _Sink("b", log)])
    with group, pytest.raises(SinkError, match="a failed"):
        group.write(_frame(index=7))
    assert log == ["open a", "open b", "write b 7", "close b", "close a"]


def test_parse_sink_spec_grammar(tmp_path):
    cam = parse_sink_spec("vcam")
    assert isinstance(cam, VirtualCameraSink)
    assert (cam.config.width, cam.config.height, cam.config.fps) == (1280, 720, 30.0)
    cam = parse_sink_spec("vcam:1920x1080@25,device=/dev/video10,backend=v4l2loopback")
    assert (cam.config.width, cam.config.height, cam.config.fps) == (1920, 1080, 25.0)
    assert (cam.config.device, cam.config.backend) == ("/dev/video10", "v4l2loopback")
    assert parse_sink_spec("vcam:@60").config.fps == 60.0
    assert isinstance(parse_sink_spec(f"{tmp_path}/new/"), PngFolderSink)
    assert isinstance(parse_sink_spec(str(tmp_path)), PngFolderSink)  # existing folder
    assert parse_sink_spec(f"png:{tmp_path}/x").folder == tmp_path / "x"
    rec = parse_sink_spec(str(tmp_path / "a.mkv"), fps=12.5)
    assert isinstance(rec, RecorderSink) and (rec.fourcc, rec.fps) == ("mp4v", 12.5)
    assert parse_sink_spec(str(tmp_path / "a.avi")).fourcc == "MJPG"
    with pytest.raises(SinkError, match=r'bad virtual camera spec "vcam:big"'):
        parse_sink_spec("vcam:big")
    with pytest.raises(SinkError, match=r'unknown output "out.gif"'):
        parse_sink_spec("out.gif")
