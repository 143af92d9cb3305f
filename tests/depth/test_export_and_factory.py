"""`live2diff-cam export-depth`, the factory, the PNG writer and the benchmark (real paths)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from live2diff_cam import cli
from live2diff_cam.depth import (
    KNOWN_MODELS,
    MIDAS_DPT_HYBRID,
    DepthModelSpec,
    OnnxDepthEstimator,
    TorchDepthEstimator,
    create_depth_estimator,
    export_depth_onnx,
    save_depth_png,
)
from live2diff_cam.depth.base import known_model
from live2diff_cam.depth.bench import benchmark_depth
from live2diff_cam.depth.onnx_estimator import SPEC_METADATA_KEY
from live2diff_cam.depth.random_models import build_random_depth_model
from live2diff_cam.errors import DepthError


def _export_cli(*argv: str) -> Path:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["export-depth", *argv]) == 0
    return Path(out.getvalue().strip().splitlines()[-1])


def test_export_depth_caches_one_file_with_dynamic_batch_and_fixed_size(
    tiny_onnx, tiny_folder, cache_home
):
    import onnxruntime

    # Cached under the user cache dir, keyed by folder, size and opset.
    assert tiny_onnx.is_relative_to(cache_home / "live2diff-cam" / "depth")
    assert tiny_onnx.name.endswith("-98x98-opset18.onnx")
    session = onnxruntime.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "pixel_values"
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [3, 98, 98]
    assert session.get_outputs()[0].name == "predicted_depth"
    spec = json.loads(session.get_modelmeta().custom_metadata_map[SPEC_METADATA_KEY])
    assert spec["input_height"] == 98 and spec["mean"] == [0.485, 0.456, 0.406]
    # A second export of the same folder reuses the file instead of exporting again.
    stamp = tiny_onnx.stat().st_mtime_ns
    assert _export_cli(str(tiny_folder)) == tiny_onnx
    assert tiny_onnx.stat().st_mtime_ns == stamp


def test_the_papers_midas_dpt_hybrid_exports_and_matches_torch(tmp_path, wide_frames):
    """MiDaS DPT-Hybrid's real class (BiT + ViT), tiny, through the TorchScript exporter."""
    model, spec = build_random_depth_model("tiny-dpt-hybrid", seed=1)
    assert (spec.mean, spec.std) == (MIDAS_DPT_HYBRID.mean, MIDAS_DPT_HYBRID.std)
    path = export_depth_onnx(model, spec, tmp_path / "midas.onnx", exporter="torchscript")
    onnx_estimator = OnnxDepthEstimator(path)
    assert onnx_estimator.spec == spec  # read back from the file's metadata
    frames = wide_frames
    torch_depth = TorchDepthEstimator(model, spec)(frames)
    onnx_depth = onnx_estimator(frames)
    assert onnx_depth.shape == (2, 1, 270, 480)
    assert (onnx_depth - torch_depth).abs().max() < 1e-4
    assert onnx_depth.std() > 0.02


def test_export_refuses_a_size_that_is_not_a_patch_multiple(tiny_folder, tmp_path, capsys):
    output = tmp_path / "x.onnx"
    argv = ["export-depth", str(tiny_folder), "--size", "100", "100", "--output", str(output)]
    assert cli.main(argv) == 1
    assert "input size 100x100 must be positive multiples of 14" in capsys.readouterr().err
    assert not output.exists()


def test_export_of_a_missing_source_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["export-depth", str(tmp_path / "nothing-here")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("live2diff-cam: error: depth model folder not found")
    assert "Traceback" not in err


def test_factory_picks_the_runtime_from_the_source(tiny_folder, tiny_onnx, real_frames):
    from_file = create_depth_estimator(tiny_onnx, "cpu", prefer="torch")  # a file is ONNX
    from_folder_torch = create_depth_estimator(tiny_folder, "cpu", prefer="torch")
    from_folder_onnx = create_depth_estimator(tiny_folder, "cpu", prefer="onnx")  # cached export
    assert isinstance(from_file, OnnxDepthEstimator)
    assert isinstance(from_folder_torch, TorchDepthEstimator)
    assert isinstance(from_folder_onnx, OnnxDepthEstimator)
    assert from_folder_onnx.model_path == tiny_onnx
    frames = real_frames[:2]
    reference = from_folder_torch(frames)
    for estimator in (from_file, from_folder_onnx):
        assert (estimator(frames) - reference).abs().max() < 1e-4


def test_known_models_point_at_the_real_hub_repositories():
    default = known_model("depth-anything-v2-small")
    assert default is KNOWN_MODELS["depth-anything-v2-small"]
    assert default.onnx_repo == "onnx-community/depth-anything-v2-small"
    assert default.onnx_file == "onnx/model.onnx"
    assert default.torch_repo == "depth-anything/Depth-Anything-V2-Small-hf"
    assert (default.spec.input_height, default.spec.input_width) == (518, 518)
    midas = known_model("midas")
    assert midas is not None and midas.torch_repo == "Intel/dpt-hybrid-midas"
    assert (midas.spec.input_height, midas.spec.mean) == (384, (0.5, 0.5, 0.5))
    assert known_model("Intel/DPT-Hybrid-MiDaS") is midas
    assert known_model("someone/else") is None


def test_spec_validates_its_values():
    with pytest.raises(DepthError, match="multiples of 14"):
        DepthModelSpec("x", 500, 518, (0.5,) * 3, (0.5,) * 3, multiple_of=14)
    with pytest.raises(DepthError, match="std must be > 0"):
        DepthModelSpec("x", 384, 384, (0.5,) * 3, (0.5, 0.0, 0.5))


def test_save_depth_png_writes_16_and_8_bit_grayscale(tmp_path, onnx_estimator, real_frames):
    import cv2

    depth = onnx_estimator(real_frames[:1])
    path16 = save_depth_png(depth, tmp_path / "d" / "frame16.png")
    path8 = save_depth_png(depth[0], tmp_path / "frame8.png", bits=8)
    image16 = cv2.imread(str(path16), cv2.IMREAD_UNCHANGED)
    image8 = cv2.imread(str(path8), cv2.IMREAD_UNCHANGED)
    assert image16.dtype == np.uint16 and image16.shape == (480, 640)
    assert image8.dtype == np.uint8 and image8.shape == (480, 640)
    raw = depth[0, 0]
    unit = (raw - raw.min()) / (raw.max() - raw.min())
    expected = (unit.numpy() * 65535).round().astype(np.uint16)
    assert np.array_equal(image16, expected)
    assert image16.max() == 65535 and image16.min() == 0 and image8.max() == 255
    with pytest.raises(DepthError, match="one map"):
        save_depth_png(torch.rand(2, 1, 8, 8), tmp_path / "batch.png")
    with pytest.raises(DepthError, match=r"should end in \.png"):
        save_depth_png(depth, tmp_path / "frame.jpg")


def test_benchmark_reports_mean_and_p95_per_frame(onnx_estimator):
    result = benchmark_depth(onnx_estimator, 96, 128, frames=6, batch=2, warmup=1, model="tiny")
    assert result.frames == 6 and result.batch == 2
    assert result.provider == "CPUExecutionProvider" and result.model == "tiny"
    assert 0 < result.p50_ms <= result.p95_ms
    assert result.mean_ms > 0 and result.cpu_ms > 0
