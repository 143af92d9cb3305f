"""Fault injection: the real `live2diff-cam run` as a subprocess on a real clip, one fault each.

Every case asserts the exit status, the one line the user reads last, that every file present
before the run is byte for byte unchanged, and that every video written plays (its frames are
counted by reading it back with OpenCV). Faults: same path as source and sink, an existing
recording with a run that fails before and after the sinks open, SIGTERM / SIGHUP, Ctrl-C
twice, a disk that fills up (a real tmpfs), a read-only folder, a source folder deleted
mid-run, a NaN LoRA, a bad user presets file. The tiny model at 64x64 keeps each case quick;
the cases that stream through the engine for a while (~9 s of CPU each) are marked `slow`, all
but SIGTERM, which stands for them in the default run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import torch
from safetensors.torch import load_file, save_file

from live2diff_cam.app.sinks import disk_space
from live2diff_cam.engine import checkpoint_writers as writers
from live2diff_cam.engine.models import build_tiny
from tests.app.conftest import frame_count

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = ("--model", "tiny", "--device", "cpu", "--height", "64", "--width", "64")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ----------------------------------------------------------------- helpers
def _env(config_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "LIVE2DIFF_CAM_CONFIG_DIR": str(config_dir),
    }


def _command(*args: object) -> list[str]:
    return [sys.executable, "-m", "live2diff_cam", "run", *map(str, args)]


def run_cli(tmp_path: Path, *args: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        _command(*args),
        env=_env(tmp_path / "config"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    _assert_clean_exit(result.returncode, result.stderr)
    return result


def _assert_clean_exit(returncode: int, stderr: str) -> None:
    assert returncode >= 0, f"killed by signal {-returncode}:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert "terminate called" not in stderr, stderr


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` -> its SHA-256: the 'before' picture of a run."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_unchanged(before: dict[str, str], folder: Path) -> None:
    after = digests(folder)
    assert {name: after.get(name) for name in before} == before


@pytest.fixture
def clip(clip_path, tmp_path) -> Path:
    """A private copy of a real 77-frame clip, 640x480."""
    return Path(shutil.copy(clip_path("again.mkv"), tmp_path / "again.mkv"))


@pytest.fixture
def recording(clip_path, tmp_path) -> Path:
    """An earlier valid recording where the next run will write: a copy of a real clip."""
    return Path(shutil.copy(clip_path("again.mkv"), tmp_path / "take.mkv"))


def _mount_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        # root inside a container that withholds the mount capability
        pytest.skip(f"root cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[callable]:
    """`tmpfs(name, options)`: a real tmpfs mounted at tmp_path/name (needs root)."""
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        folder = tmp_path / name
        _mount_tmpfs(folder, options)
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


class Streaming:
    """A `run` started in the background, read until it has written frames."""

    def __init__(self, tmp_path: Path, *args: object) -> None:
        self.process = subprocess.Popen(
            _command(*args, "--stats-json"),
            env=_env(tmp_path / "config"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_for_frames(self, at_least: int = 1) -> int:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{") and json.loads(line)["frames_out"] >= at_least:
                return json.loads(line)["frames_out"]
        pytest.fail(f"the run ended before writing frames: {self.process.communicate()[1]}")

    def finish(self) -> tuple[int, str]:
        try:
            _, stderr = self.process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        _assert_clean_exit(self.process.returncode, stderr)
        return self.process.returncode, stderr


# ----------------------------------------------------------------- 1. same path
def test_a_sink_at_the_source_path_is_refused_before_anything_opens(tmp_path, clip):
    before = digests(tmp_path)
    result = run_cli(tmp_path, "--source", clip, "--sink", clip, "--mode", "bypass")
    assert result.returncode == 1
    assert last_line(result.stderr) == (
        f"live2diff-cam: error: the sink would overwrite the source: 'recorder again.mkv' "
        f"writes to {clip}, which the run reads from. Write to another file or folder."
    )
    assert_unchanged(before, tmp_path)


# ----------------------------------------------------------------- 2. an existing recording
def test_a_bad_dtype_fails_before_the_sink_opens_and_the_old_recording_stays(
    tmp_path, clip, recording
):
    before = digests(tmp_path)
    result = run_cli(tmp_path, "--source", clip, "--sink", recording, *TINY, "--dtype", "int8")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "live2diff-cam: error: dtype must be one of float32, float16, bfloat16, got 'int8'"
    )
    assert_unchanged(before, tmp_path)
    assert frame_count(recording) == 77


def test_a_truncated_model_fails_before_the_sink_opens_and_the_old_recording_stays(
    tmp_path, clip, recording
):
    model = tmp_path / "model.safetensors"
    save_file({"weight": torch.ones(256, 256)}, model)
    model.write_bytes(model.read_bytes()[:-1000])  # a download cut short
    before = digests(tmp_path)
    result = run_cli(tmp_path, "--source", clip, "--sink", recording, *TINY[2:], "--model", model)
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert line.startswith(f"live2diff-cam: error: model file {model} is incomplete or damaged (")
    assert line.endswith("); download it again.")
    assert_unchanged(before, tmp_path)


@pytest.fixture(scope="module")
def nan_lora(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nan-lora")
    state = load_file(writers.write_lora(build_tiny(0), folder / "style.safetensors"))
    path = folder / "nan.safetensors"
    save_file({key: torch.full_like(value, float("nan")) for key, value in state.items()}, path)
    return path


def test_a_nan_lora_fails_at_load_after_the_sinks_opened_and_the_old_recording_stays(
    tmp_path, clip, recording, nan_lora
):
    before = digests(tmp_path)
    result = run_cli(
        tmp_path, "--source", clip, "--sink", recording, *TINY, "--lora", nan_lora, "--frames", "4"
    )
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert line.startswith(
        f"live2diff-cam: error: Could not load the model 'tiny': {nan_lora} holds non-finite "
        "weights ("
    )
    assert_unchanged(before, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ----------------------------------------------------------------- 3. stop signals
@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [
        (signal.SIGTERM, 143, "SIGTERM"),
        # The same path as SIGTERM; ~9 s of CPU each, so the second runs with the slow tests.
        pytest.param(signal.SIGHUP, 129, "SIGHUP", marks=pytest.mark.slow),
    ],
)
def test_a_stop_signal_finalises_a_playable_recording(tmp_path, clip_path, signum, code, name):
    out = tmp_path / "out.mp4"
    run = Streaming(tmp_path, "--source", clip_path("again.mkv"), "--loop", "--sink", out, *TINY)
    run.wait_for_frames()
    run.process.send_signal(signum)
    returncode, stderr = run.finish()
    assert returncode == code
    line = last_line(stderr)
    assert line.startswith(f"live2diff-cam: stopped by {name} after ")
    assert line.endswith(" frames; every output was closed and is complete.")
    written = int(line.split(" after ")[1].split(" frames")[0])
    assert written >= 1
    assert frame_count(out) == written
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".mp4"] == ["out.mp4"]


@pytest.mark.slow  # ~9 s of CPU: a stream through the tiny engine
def test_ctrl_c_twice_exits_cleanly_with_a_playable_recording(tmp_path, clip_path):
    out = tmp_path / "out.mp4"
    run = Streaming(tmp_path, "--source", clip_path("again.mkv"), "--loop", "--sink", out, *TINY)
    run.wait_for_frames()
    run.process.send_signal(signal.SIGINT)
    run.process.send_signal(signal.SIGINT)
    returncode, stderr = run.finish()
    assert returncode == 130
    assert "live2diff-cam: stopped by Ctrl-C" in stderr
    assert frame_count(out) >= 1


@pytest.mark.slow  # ~9 s of CPU: a stream through the tiny engine
def test_ctrl_c_during_the_model_load_waits_for_it_and_exits_cleanly(tmp_path, clip_path):
    run = Streaming(tmp_path, "--source", clip_path("again.mkv"), "--loop", *TINY)
    assert run.process.stderr is not None
    for line in run.process.stderr:  # the engine thread is now inside the model build
        if "session: loading" in line:
            break
    run.process.send_signal(signal.SIGINT)
    returncode, _ = run.finish()
    assert returncode == 130


# ----------------------------------------------------------------- 4. disk full
def test_a_disk_filling_up_stops_the_recording_playable_and_the_run_fails(
    tmp_path, clip_path, tmpfs
):
    disk = tmpfs("disk", "size=2m")
    reserve = disk_space.reserve_bytes(disk)
    free = shutil.disk_usage(disk).free
    (disk / "other-files").write_bytes(b"\0" * (free - reserve - 150_000))
    before = digests(disk)
    out = disk / "out.mp4"
    result = run_cli(
        tmp_path,
        *("--source", clip_path("again.mkv"), "--loop", "--sink", out, "--mode", "bypass"),
        *("--height", "240", "--width", "320"),
    )
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert line.startswith(
        "live2diff-cam: error: Every output failed, so the stream stopped; the last one: "
        f"stopped writing {out}: the disk is full ("
    )
    assert line.endswith("needed). Free some space or record elsewhere.")
    assert_unchanged(before, disk)
    assert frame_count(out) >= 1
    assert sorted(p.name for p in disk.iterdir()) == ["other-files", "out.mp4"]


# ----------------------------------------------------------------- 5. read-only folder
def test_the_only_sink_in_a_read_only_folder_fails_the_run_before_it_starts(
    tmp_path, clip, request
):
    if IS_ROOT:  # root writes through permission bits: a read-only mount it is
        folder = request.getfixturevalue("tmpfs")("read-only", "ro,size=1m")
        reason = "Read-only file system"
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        reason = "Permission denied"
    # A recorder there fails the same way (tests/app/test_sinks_files.py, in-process).
    result = run_cli(tmp_path, "--source", clip, "--sink", folder, "--mode", "bypass")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"live2diff-cam: error: cannot write {folder}: folder {folder} does not take new "
        f"files ({reason}). Choose another location."
    )
    assert list(folder.iterdir()) == []


# ----------------------------------------------------------------- 7. a source that goes away
@pytest.mark.slow  # ~9 s of CPU: a stream through the tiny engine
def test_a_source_folder_deleted_mid_run_ends_it_with_the_frames_read_written(tmp_path, clip_path):
    images = tmp_path / "images"
    images.mkdir()
    capture = cv2.VideoCapture(str(clip_path("again.mkv")))
    frames = []
    while (read := capture.read())[0]:
        frames.append(cv2.resize(read[1], (64, 64)))
    capture.release()
    for index in range(300):  # the 77-frame clip, over and over
        cv2.imwrite(str(images / f"{index:04d}.png"), frames[index % len(frames)])
    out = tmp_path / "out.mp4"
    run = Streaming(tmp_path, "--source", images, "--sink", out, *TINY)
    run.wait_for_frames()
    shutil.rmtree(images)
    returncode, stderr = run.finish()
    assert returncode == 1
    line = last_line(stderr)
    assert line.startswith("live2diff-cam: error: Reading 'folder images' failed after ")
    assert " is gone: it or its folder was moved or deleted. The frames read before were " in line
    assert line.endswith("written; the run stopped.")
    read = int(line.split(" failed after ")[1].split(" frames")[0])
    assert 1 <= read < 300
    assert frame_count(out) == read  # every frame read was flushed through the engine


# ----------------------------------------------------------------- 6. a bad user file
def test_a_bad_user_preset_is_skipped_and_the_run_goes_on(tmp_path, clip):
    config = tmp_path / "config"
    config.mkdir()
    user_presets = config / "presets.toml"
    user_presets.write_text('[[preset]]\nname = "Mine"\nmodel = 42\n', encoding="utf-8")
    out = tmp_path / "out.mp4"
    result = run_cli(
        tmp_path, "--source", clip, "--sink", out, "--preset", "Photo", "--mode", "bypass"
    )
    assert result.returncode == 0
    assert (
        f"{user_presets}, line 3: preset #1, field `model`: Input should be a valid string, "
        "got 42. This preset was skipped." in result.stderr
    )
    assert last_line(result.stderr) == "live2diff-cam: done: 77 frames from 77 inputs."
    assert frame_count(out) == 77


# ----------------------------------------------------------------- 8. exit after a slow stop
SLOW_STOP_SCRIPT = """
import sys, time, torch
from live2diff_cam.app.session import EngineRequest, LiveSession
from live2diff_cam.app.sources import FileSource

def slow_load(request, depth_hook):
    # PyTorch busy on the engine thread, as in a model load, well past stop()'s timeout.
    end, x = time.monotonic() + 2.0, torch.randn(128, 128)
    while time.monotonic() < end:
        x = torch.tanh(x @ x)
    raise RuntimeError("load abandoned")

session = LiveSession(
    FileSource(sys.argv[1]), [], request=EngineRequest(model="tiny", height=64, width=64),
    engine_factory=slow_load, offline=True,
)
session.start()
time.sleep(0.3)
session.stop(timeout_s=0.1)  # what the GUI does when it quits
print("quit", flush=True)
"""


def test_quitting_right_after_a_slow_stop_does_not_abort(tmp_path, clip):
    # Before the fix: "terminate called without an active exception" and SIGABRT, every time.
    result = subprocess.run(
        [sys.executable, "-c", SLOW_STOP_SCRIPT, str(clip)],
        env=_env(tmp_path / "config"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _assert_clean_exit(result.returncode, result.stderr)
    assert result.returncode == 0 and result.stdout == "quit\n"


NEVER_STOPPED_SCRIPT = """
import sys, time, torch
from live2diff_cam.app.session import EngineRequest, LiveSession
from live2diff_cam.app.sinks import RecorderSink
from live2diff_cam.app.sources import FileSource

class BusyEngine:
    delay_frames = 0
    def step(self, frame):
        x = torch.randn(96, 96)
        for _ in range(50):  # PyTorch busy on the engine thread most of the time
            x = torch.tanh(x @ x)
        return frame
    def pop_finished(self): return None
    def flush(self): return []
    def reset(self): pass
    def set_prompt(self, prompt): pass
    def set_strength(self, strength): pass
    def set_depth_scale(self, scale): pass

session = LiveSession(
    FileSource(sys.argv[1], loop=True), [RecorderSink(sys.argv[2])],
    request=EngineRequest(model="tiny", height=64, width=64),
    engine_factory=lambda request, hook: BusyEngine(), offline=True,
)
session.start()
while session.stats().frames_out < 5:
    time.sleep(0.05)
print("leaving without stop()", flush=True)
"""


@pytest.mark.slow  # the same exit path as the slow-stop case above, which runs by default
def test_a_program_that_exits_without_stopping_its_session_still_leaves_a_playable_file(
    tmp_path, clip
):
    out = tmp_path / "out.mp4"
    result = subprocess.run(
        [sys.executable, "-c", NEVER_STOPPED_SCRIPT, str(clip), str(out)],
        env=_env(tmp_path / "config"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _assert_clean_exit(result.returncode, result.stderr)
    assert result.returncode == 0
    assert frame_count(out) >= 5
