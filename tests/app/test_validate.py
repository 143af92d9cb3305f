"""What `run` checks before any sink opens: paths, model files, device, dtype, size, memory;
and the stop-signal handling it runs under."""

from __future__ import annotations

import signal
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from live2diff_cam import cli
from live2diff_cam.app.engine_build import EngineRequest
from live2diff_cam.app.sinks import PngFolderSink, RecorderSink
from live2diff_cam.app.sources import FileSource
from live2diff_cam.app.stop_signals import stop_on_signals
from live2diff_cam.app.validate import (
    check_engine_request,
    check_model_file,
    check_paths,
    frame_memory_bytes,
)
from live2diff_cam.errors import EngineError, ModelLoadError, SinkError


def test_a_sink_on_the_source_or_on_another_sink_is_refused(clip_path, tmp_path):
    clip = clip_path("again.mkv")
    with pytest.raises(SinkError, match=r"^the sink would overwrite the source: 'recorder "):
        check_paths(FileSource(clip), [RecorderSink(clip)], None)
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"")
    with pytest.raises(SinkError, match="the sink would overwrite the source: '--save-depth "):
        check_paths(FileSource(folder), [], folder)
    out = tmp_path / "out.mp4"
    with pytest.raises(SinkError) as caught:
        check_paths(
            FileSource(clip), [RecorderSink(out), RecorderSink(tmp_path / "." / "out.mp4")], None
        )
    assert str(caught.value) == (
        f"two outputs write to {out} ('recorder out.mp4' and 'recorder out.mp4'): give each its "
        "own file or folder."
    )
    check_paths(FileSource(clip), [RecorderSink(out), PngFolderSink(tmp_path / "png")], None)


def test_model_files_are_checked_for_presence_and_completeness(tmp_path):
    weights = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(64, 64)}, weights)
    check_model_file(str(weights), "model")
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match=r"^model file .* is incomplete or damaged \("):
        check_model_file(str(weights), "model")
    checkpoint = tmp_path / "m.ckpt"
    torch.save({"w": torch.ones(64, 64)}, checkpoint)
    assert zipfile.is_zipfile(checkpoint)
    check_model_file(str(checkpoint), "LoRA")
    checkpoint.write_bytes(checkpoint.read_bytes()[:-200])
    with pytest.raises(ModelLoadError, match=r"^LoRA file .* is incomplete \(its zip index"):
        check_model_file(str(checkpoint), "LoRA")
    with pytest.raises(ModelLoadError, match=r"does not exist; check the path\.$"):
        check_model_file(str(tmp_path / "gone.safetensors"), "model")
    for not_a_file in ("tiny", "someone/some-model", str(tmp_path)):
        check_model_file(not_a_file, "model")  # the loader resolves these


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device": "gpu0"}, "--device 'gpu0' is not a device: use auto, cuda, cuda:N or cpu."),
        ({"dtype": "int8"}, "dtype must be one of float32, float16, bfloat16, got 'int8'"),
        ({"height": 100}, "resolution 512x100 is not a positive multiple of 8; use e.g. 512x512"),
    ],
)
def test_device_dtype_and_size_use_the_engines_rules(change, message):
    request = EngineRequest(**{"model": "tiny", "device": "cpu", **change})
    with pytest.raises(EngineError) as caught:
        check_engine_request(request)
    assert str(caught.value).startswith(message)


def test_a_huge_size_fails_before_the_model_loads_with_a_memory_estimate(
    clip_path, tmp_path, capsys, monkeypatch
):
    from live2diff_cam.app import engine_build

    monkeypatch.setattr(engine_build, "build_engine", lambda *a: pytest.fail("model loaded"))
    out = tmp_path / "out.mp4"
    rc = cli.main(
        [
            *("run", "--source", str(clip_path("again.mkv")), "--sink", str(out)),
            *("--model", "tiny", "--device", "cpu", "--height", "100000", "--width", "100000"),
        ]
    )
    assert rc == 1
    needed = frame_memory_bytes(100000, 100000, "float32") / 2**40
    assert capsys.readouterr().err.startswith(
        f"live2diff-cam: error: 100000x100000 needs at least {needed:.1f} TiB of memory for "
        "one float32 frame in the autoencoder alone; cpu has "
    )
    assert not out.exists()


def test_stop_signals_are_recorded_not_raised_and_the_old_handlers_come_back():
    repeats = []
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(repeats.append) as stop:
        assert not stop.requested
        signal.raise_signal(signal.SIGTERM)
        assert stop.requested and stop.exit_code == 143 and stop.description == "SIGTERM"
        signal.raise_signal(signal.SIGINT)  # a second one: reported, the first one counts
        assert repeats == [stop] and stop.count == 2 and stop.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before
