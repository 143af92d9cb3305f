"""Clear DepthErrors: missing files, non-ONNX files, wrong input shapes, missing providers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from live2diff_cam.depth import OnnxDepthEstimator, create_depth_estimator
from live2diff_cam.errors import DepthError


def test_a_missing_model_file_says_what_to_download(tmp_path):
    missing = tmp_path / "models" / "depth.onnx"
    with pytest.raises(DepthError, match="not found") as info:
        OnnxDepthEstimator(missing)
    assert str(missing) in str(info.value)
    assert "live2diff-cam download" in str(info.value)
    assert "live2diff-cam export-depth" in str(info.value)
    with pytest.raises(DepthError, match="live2diff-cam download"):
        create_depth_estimator(missing)


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    path = tmp_path / "depth.onnx"
    path.write_bytes(b"<html>404 Not Found</html>" * 10)
    with pytest.raises(DepthError, match="not a valid ONNX model") as info:
        OnnxDepthEstimator(path)
    assert "re-export" in str(info.value)


def test_a_truncated_onnx_file_is_refused(tmp_path, tiny_onnx):
    path = tmp_path / "truncated.onnx"
    path.write_bytes(tiny_onnx.read_bytes()[:5000])
    with pytest.raises(DepthError, match="corrupt, truncated or not ONNX"):
        OnnxDepthEstimator(path)


def _export_plain(module: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (example,),
            str(path),
            input_names=["pixel_values"],
            output_names=["predicted_depth"],
            dynamic_axes={"pixel_values": {0: "batch"}},
            dynamo=False,
        )
    return path


def test_a_model_with_the_wrong_input_shape_is_refused(tmp_path):
    # A 1-channel (grayscale) network is not a depth model for RGB frames.
    gray = torch.nn.Conv2d(1, 1, 3, padding=1)
    path = _export_plain(gray, torch.rand(2, 1, 32, 32), tmp_path / "gray.onnx")
    with pytest.raises(DepthError, match=r"takes input 'pixel_values' of shape .*\(N, 3, H, W\)"):
        OnnxDepthEstimator(path)


def test_a_model_that_does_not_output_a_depth_map_is_refused(tmp_path):
    module = torch.nn.Conv2d(3, 4, 3, padding=1)  # 4 output channels: not one depth map
    path = _export_plain(module, torch.rand(2, 3, 28, 28), tmp_path / "rgba.onnx")
    with pytest.raises(DepthError, match=r"outputs 'predicted_depth' of shape \(1, 4, 28, 28\)"):
        OnnxDepthEstimator(path)


def test_a_fixed_size_model_uses_its_own_input_size(tmp_path):
    class MeanDepth(torch.nn.Module):
        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return pixel_values.mean(dim=1)

    path = _export_plain(MeanDepth(), torch.rand(2, 3, 42, 56), tmp_path / "fixed.onnx")
    estimator = OnnxDepthEstimator(path)
    assert (estimator.spec.input_height, estimator.spec.input_width) == (42, 56)
    # A left-to-right ramp: brighter = "nearer" for this network, so the map is that ramp.
    ramp = torch.linspace(0, 1, 90).view(1, 1, 1, 90).expand(1, 3, 60, 90)
    depth = estimator(ramp)
    assert depth.shape == (1, 1, 60, 90)
    assert depth[0, 0, 30, 0] < 0.01 and depth[0, 0, 30, -1] > 0.99


def test_the_cpu_only_onnxruntime_package_is_reported(monkeypatch, tiny_onnx):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(DepthError, match=r"no CUDA provider.*pip install onnxruntime-gpu"):
        OnnxDepthEstimator(tiny_onnx, device="cuda:0")


def test_tensorrt_needs_cuda(tiny_onnx):
    with pytest.raises(DepthError, match="TensorRT provider needs device='cuda'"):
        OnnxDepthEstimator(tiny_onnx, device="cpu", tensorrt=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback where CUDA is absent")
def test_cuda_listed_but_not_loadable_is_detected(tiny_onnx, caplog):
    # onnxruntime-gpu lists CUDA here although its libraries are missing, and silently falls
    # back to the CPU: the estimator must notice (session.get_providers()).
    with pytest.raises(DepthError, match=r"could not start its CUDA provider.*CUDA 13"):
        OnnxDepthEstimator(tiny_onnx, device="cuda:0", allow_cpu_fallback=False)
    with caplog.at_level(logging.WARNING, logger="live2diff_cam.depth.onnx_estimator"):
        estimator = OnnxDepthEstimator(tiny_onnx, device="cuda:0")
    assert estimator.uses_gpu is False
    assert estimator.provider == "CPUExecutionProvider"
    assert any("Depth runs on the CPU" in r.getMessage() for r in caplog.records)
    assert estimator(torch.rand(1, 3, 40, 40)).shape == (1, 1, 40, 40)


def test_an_uncached_hub_model_offline_says_what_to_download(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(DepthError) as info:
        create_depth_estimator("depth-anything-v2-small", "cpu", prefer="onnx")
    message = str(info.value)
    assert "onnx/model.onnx" in message
    assert "https://huggingface.co/onnx-community/depth-anything-v2-small" in message
    assert "live2diff-cam download" in message


def test_uncached_torch_weights_offline_say_what_to_download(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(DepthError) as info:
        create_depth_estimator("midas", "cpu", prefer="torch")
    message = str(info.value)
    assert "'Intel/dpt-hybrid-midas' is not in the Hugging Face cache" in message
    assert "live2diff-cam download" in message


def test_a_missing_torch_model_folder_is_reported(tmp_path):
    with pytest.raises(DepthError, match="not found"):
        create_depth_estimator(tmp_path / "no-such-model", prefer="torch")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DepthError, match=r"has no config\.json"):
        create_depth_estimator(empty, prefer="torch")


def test_prefer_must_be_onnx_or_torch(tiny_onnx):
    with pytest.raises(DepthError, match="prefer must be"):
        create_depth_estimator(tiny_onnx, prefer="tensorflow")  # type: ignore[arg-type]
