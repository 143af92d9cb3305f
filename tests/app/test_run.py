"""`live2diff-cam run` end to end on the real clips in tests/data, and its bad-input lines."""

from __future__ import annotations

import signal
from pathlib import Path

import cv2
import pytest

from live2diff_cam import cli
from live2diff_cam.app import sinks
from live2diff_cam.app.session import LiveSession
from live2diff_cam.errors import SinkError
from tests.data import CLIP, CLIP_FRAMES, DATA_DIR, GIF, GIF_FRAMES

CLIPS = DATA_DIR  # a missing clip fails the run (exit code 1), it is never skipped


class SpySink:
    """Wraps a real sink and records what reached it (index, capture time)."""

    def __init__(self, inner, seen: list) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen = seen

    def __enter__(self):
        self.inner.__enter__()
        return self

    def __exit__(self, *exc):
        self.inner.__exit__(*exc)

    def write(self, frame) -> None:
        self.seen.append((self.name, frame.index, frame.timestamp_ns, frame.image.shape))
        self.inner.write(frame)


@pytest.fixture
def spied(monkeypatch) -> list:
    seen: list = []
    parse_sink_spec = sinks.parse_sink_spec
    # The session parses sink specs through the package attribute, so this wraps every sink.
    monkeypatch.setattr(sinks, "parse_sink_spec", lambda spec: SpySink(parse_sink_spec(spec), seen))
    return seen


def read_video(path: Path) -> list:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def test_clip_through_the_tiny_engine_into_a_recorder_and_a_png_folder(tmp_path, spied, capsys):
    video, folder = tmp_path / "out.mp4", tmp_path / "frames"
    rc = cli.main(
        [
            "run",
            "--source",
            str(CLIPS / "again.mkv"),
            "--sink",
            str(video),
            "--sink",
            f"{folder}/",
            "--model",
            "tiny",
            # The tiny model takes any multiple of 4: the smallest size keeps the test cheap.
            *("--height", "16", "--width", "16", "--steps", "2"),
            "--device",
            "cpu",
            "--stats-json",
        ]
    )
    assert rc == 0
    pngs = sorted(folder.glob("*.png"))
    # The whole clip: 77 frames in, 77 out (warmup, the stream batch and flush() together).
    assert [p.name for p in pngs] == [f"frame_{i:06d}.png" for i in range(77)]
    assert cv2.imread(str(pngs[0])).shape == (16, 16, 3)
    frames = read_video(video)
    assert len(frames) == 77
    assert frames[0].shape == (16, 16, 3)
    for name in {s[0] for s in spied}:
        mine = [s for s in spied if s[0] == name]
        assert [s[1] for s in mine] == list(range(77))  # one output per input, in order
        stamps = [s[2] for s in mine]
        assert stamps == sorted(stamps)
    out = capsys.readouterr()
    assert '"frames_out": 77' in out.out.splitlines()[-1]
    assert "live2diff-cam: done: 77 frames from 77 inputs." in out.err


def test_bypass_mode_copies_every_frame_of_a_clip_without_a_model(tmp_path, spied):
    video = tmp_path / "bypass.avi"
    rc = cli.main(
        [
            "run",
            "--source",
            str(CLIPS / GIF),
            "--sink",
            str(video),
            "--sink",
            str(tmp_path / "png") + "/",
            "--mode",
            "bypass",
            "--model",
            "no/such-model",  # never loaded: bypass keeps the engine out of the path
            "--height",
            "96",
            "--width",
            "160",
        ]
    )
    assert rc == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == GIF_FRAMES
    frames = read_video(video)
    assert len(frames) == GIF_FRAMES and frames[0].shape == (96, 160, 3)
    assert sorted(s[1] for s in spied if s[0].startswith("recorder")) == list(range(GIF_FRAMES))


def test_ctrl_c_stops_cleanly_and_the_recording_is_playable(tmp_path, monkeypatch, capsys):
    wait = LiveSession.wait
    sent = []

    def interrupted(self, timeout_s=None):
        if self.stats().frames_out >= 5 and not sent:
            sent.append(True)
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, to the run's own handler
            return False  # at once: a 0.2 s wait would let bypass read the whole clip
        # Look often: the short clip is read in well under the CLI's own 0.2 s wait.
        return wait(self, 0.001)

    monkeypatch.setattr(LiveSession, "wait", interrupted)
    video = tmp_path / "cut.mp4"
    rc = cli.main(
        [
            *("run", "--source", str(CLIPS / CLIP), "--sink", str(video)),
            *("--mode", "bypass", "--height", "64", "--width", "64"),
        ]
    )
    assert rc == 130
    err = capsys.readouterr().err
    assert "live2diff-cam: stopped by Ctrl-C after " in err
    assert "frames; every output was closed and is complete." in err
    written = int(err.split("after ")[1].split(" frames")[0])
    assert 5 <= written < CLIP_FRAMES
    assert len(read_video(video)) == written


@pytest.mark.parametrize(
    ("argv", "rc", "line"),
    [
        (
            ["--source", "missing.mp4"],
            1,
            'live2diff-cam: error: unknown source "missing.mp4": not camera[:N|NAME], '
            "screen[:N|X,Y,W,H], window:TITLE, and no file or folder missing.mp4 exists.",
        ),
        (
            ["--source", "{clip}", "--sink", "out.txt"],
            1,
            # The sinks part owns the rest of this line (the list of video types may grow).
            'live2diff-cam: error: unknown output "out.txt": use vcam[:1280x720@30], a folder '
            "ending in / for PNGs, or a video path ending in ...",
        ),
        (
            ["--source", "{clip}", "--preset", "Nope"],
            1,
            "live2diff-cam: error: Unknown preset 'Nope'. Known presets: Photo, Origami, Felted, "
            "Ink wash, Pixel art, Modern animation, Anime film, Painted series.",
        ),
        (
            ["--source", "{clip}", "--save-depth", "d"],
            1,
            "live2diff-cam: error: --save-depth needs a depth model: add --depth-model "
            "FILE_OR_HUB_ID.",
        ),
        (
            ["--source", "{clip}", "--strength", "2"],
            1,
            "live2diff-cam: error: Strength must be in [0, 1], got 2.0.",
        ),
        (
            ["--source", "{clip}", "--speed", "3"],
            2,
            "live2diff-cam: error: unrecognized arguments: --speed 3 (see `live2diff-cam --help`)",
        ),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(argv, rc, line, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{clip}", str(CLIPS / CLIP)) for a in argv]
    try:
        code = cli.main(["run", *argv])
    except SystemExit as exit_:  # argparse exits
        code = exit_.code
    assert code == rc
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    if line.endswith("..."):
        assert lines[0].startswith(line[:-3])
    else:
        assert lines[0] == line


def test_a_model_that_does_not_exist_exits_with_one_line(tmp_path, monkeypatch, capsys):
    # Offline, as CI is: online the hub client retries for about 45 s (and logs each retry)
    # before the loader gives up, which is not what this test is about.
    hub_constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    rc = cli.main(
        [
            *("run", "--source", str(CLIPS / CLIP), "--sink", str(tmp_path / "o") + "/"),
            *("--model", "no/such-model", "--height", "64", "--width", "64", "--frames", "3"),
        ]
    )
    assert rc == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("live2diff-cam: error: Could not load the model 'no/such-model': ")


def test_no_display_for_screen_capture_exits_with_the_fix(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc = cli.main(["run", "--source", "screen", "--mode", "bypass", "--frames", "2"])
    assert rc == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    # The sources part words the fix; run shows it as one line, no traceback.
    assert lines[0].startswith("live2diff-cam: error: no display to capture: ")
    assert "DISPLAY" in lines[0]


def test_terminal_keys_switch_the_session_mode(monkeypatch):
    import io

    from live2diff_cam.app import run as run_module
    from live2diff_cam.app.hub import Mode

    switched = []

    class Recorder:
        def set_mode(self, mode):
            switched.append(mode)

    monkeypatch.setattr(run_module.sys, "stdin", io.StringIO("b\nx\nPrivacy\nf\ns\n"))
    run_module.start_mode_keys(Recorder()).join(timeout=5)
    assert switched == [Mode.BYPASS, Mode.PRIVACY, Mode.FREEZE, Mode.STYLIZED]


class FailsAfter:
    """Wraps a real sink; its fourth write fails as a disk would."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.writes = 0

    def __enter__(self):
        self.inner.__enter__()
        return self

    def __exit__(self, *exc):
        self.inner.__exit__(*exc)

    def write(self, frame) -> None:
        self.writes += 1
        if self.writes == 4:
            raise SinkError(f"could not write to {self.name}: No space left on device")
        self.inner.write(frame)


def test_one_failed_sink_makes_the_run_fail_while_the_others_finish(tmp_path, monkeypatch, capsys):
    parse_sink_spec = sinks.parse_sink_spec

    def parse(spec):
        sink = parse_sink_spec(spec)
        return FailsAfter(sink) if spec.endswith(".avi") else sink

    monkeypatch.setattr(sinks, "parse_sink_spec", parse)
    broken, good = tmp_path / "broken.avi", tmp_path / "good.mp4"
    rc = cli.main(
        [
            *("run", "--source", str(CLIPS / "again.mkv"), "--mode", "bypass"),
            *("--sink", str(broken), "--sink", str(good), "--height", "64", "--width", "64"),
        ]
    )
    assert rc == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "live2diff-cam: error: The output 'recorder broken.avi' failed and was closed: could not "
        "write to recorder broken.avi: No space left on device. The others go on (77 frames "
        "from 77 inputs)."
    )
    assert len(read_video(broken)) == 3  # what it wrote before failing still plays
    assert len(read_video(good)) == 77
