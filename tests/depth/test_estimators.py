"""The depth contract on real frames: ONNX == torch, raw maps at frame size, batch independence."""

from __future__ import annotations

import pytest
import torch

from live2diff_cam.depth import (
    DEPTH_ANYTHING_V2_SMALL,
    DepthEstimator,
    OnnxDepthEstimator,
    TorchDepthEstimator,
)
from live2diff_cam.depth.processing import DepthProcessor
from live2diff_cam.errors import DepthError

# ONNX vs torch, relative to the map's range: float32 op reordering in onnxruntime stays ~1e-6.
ONNX_TORCH_TOLERANCE = 1e-4
# Published ImageNet statistics (what Depth-Anything was trained with), typed out on purpose.
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@pytest.fixture(params=["onnx", "torch"])
def estimator(request, onnx_estimator, torch_estimator) -> DepthEstimator:
    return onnx_estimator if request.param == "onnx" else torch_estimator


def test_onnx_and_torch_give_the_same_maps_on_real_frames(
    onnx_estimator, torch_estimator, real_frames
):
    onnx_depth = onnx_estimator(real_frames)
    torch_depth = torch_estimator(real_frames)
    scale = torch_depth.amax() - torch_depth.amin()
    assert (onnx_depth - torch_depth).abs().max() < ONNX_TORCH_TOLERANCE * scale
    # The maps carry structure (not flat), so the comparison above means something.
    assert onnx_depth.std(dim=(1, 2, 3)).min() > 0.02 * scale
    # Different frames of the clip give different maps.
    assert (onnx_depth[0] - onnx_depth[3]).abs().mean() > 1e-3 * scale


def test_output_contract_shape_dtype_device_and_raw_values(estimator, real_frames):
    assert isinstance(estimator, DepthEstimator)
    depth = estimator(real_frames)
    n, _, h, w = real_frames.shape
    assert depth.shape == (n, 1, h, w)
    assert depth.dtype == torch.float32
    assert depth.device == real_frames.device
    assert torch.isfinite(depth).all()
    # Raw network output, resized: what the network gives at its own size, not [0, 1] maps.
    processor = DepthProcessor(estimator.spec, torch.device("cpu"))
    raw = torch_network_output(estimator, processor.preprocess(real_frames))
    expected = DepthProcessor.postprocess(raw, (h, w))
    scale = expected.amax() - expected.amin()
    assert (depth - expected).abs().max() < ONNX_TORCH_TOLERANCE * scale


def torch_network_output(estimator, x: torch.Tensor) -> torch.Tensor:
    return estimator._run(x)


def test_any_frame_size_comes_back_at_its_own_size(estimator, real_frames):
    frames = real_frames[:2, :, :123, :77]
    assert estimator(frames).shape == (2, 1, 123, 77)


def test_a_constant_frame_gives_finite_maps(estimator):
    gray = torch.full((2, 3, 64, 80), 0.5)
    black = torch.zeros((1, 3, 64, 80))
    for frames in (gray, black):
        depth = estimator(frames)
        assert torch.isfinite(depth).all()


def test_postprocess_resizes_the_raw_map_without_normalising_it():
    raw = torch.cat([torch.full((1, 10, 12), 3.0), torch.linspace(0, 5, 120).view(1, 10, 12)])
    depth = DepthProcessor.postprocess(raw, (20, 24))
    assert depth.shape == (2, 1, 20, 24)
    assert torch.equal(depth[0], torch.full((1, 20, 24), 3.0))
    assert 0.0 <= depth[1].min() < 0.2 and 4.8 < depth[1].max() <= 5.0


def test_a_frames_map_does_not_depend_on_its_batch_neighbours(estimator, real_frames):
    batch = estimator(real_frames)
    reversed_batch = estimator(real_frames.flip(0)).flip(0)
    for i in range(real_frames.shape[0]):
        alone = estimator(real_frames[i : i + 1])
        torch.testing.assert_close(batch[i : i + 1], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(batch, reversed_batch, atol=1e-5, rtol=0)


def test_preprocessing_is_imagenet_normalisation_at_518(real_frames):
    processor = DepthProcessor(DEPTH_ANYTHING_V2_SMALL, torch.device("cpu"))
    x = processor.preprocess(torch.full((1, 3, 480, 640), 0.5))
    assert x.shape == (1, 3, 518, 518)
    mean, std = IMAGENET_MEAN_STD
    expected = [(0.5 - m) / s for m, s in zip(mean, std, strict=True)]
    torch.testing.assert_close(x[0, :, 100, 100], torch.tensor(expected), atol=1e-6, rtol=0)
    buffer = torch.empty(2, 3, 518, 518)
    assert processor.preprocess(real_frames[:2], out=buffer).data_ptr() == buffer.data_ptr()


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (torch.rand(2, 48, 64, 3), r"\(N, 3, H, W\)"),
        (torch.rand(3, 48, 64), r"\(N, 3, H, W\)"),
        (torch.zeros(1, 3, 48, 64, dtype=torch.uint8), "float"),
        (torch.rand(0, 3, 48, 64), "empty"),
    ],
)
def test_frames_in_the_wrong_layout_raise_a_clear_error(estimator, frames, message):
    with pytest.raises(DepthError, match=message):
        estimator(frames)


def test_both_runtimes_report_what_they_run_on(onnx_estimator, torch_estimator):
    assert isinstance(onnx_estimator, OnnxDepthEstimator)
    assert onnx_estimator.provider == "CPUExecutionProvider"
    assert onnx_estimator.uses_gpu is False
    assert isinstance(torch_estimator, TorchDepthEstimator)
    assert torch_estimator.provider == "torch (cpu)"
    # The exported file carries its spec: the tiny model's 98x98 input, ImageNet normalisation.
    assert (onnx_estimator.spec.input_height, onnx_estimator.spec.input_width) == (98, 98)
    assert onnx_estimator.spec.mean == DEPTH_ANYTHING_V2_SMALL.mean


@pytest.mark.gpu
def test_cuda_io_binding_matches_the_cpu_path(tiny_onnx, real_frames, onnx_estimator):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    gpu = OnnxDepthEstimator(tiny_onnx, device="cuda", allow_cpu_fallback=False)
    assert gpu.uses_gpu and gpu.provider == "CUDAExecutionProvider"
    frames = real_frames.cuda()
    depth = gpu(frames)
    assert depth.device == frames.device and depth.shape == (4, 1, 480, 640)
    torch.testing.assert_close(depth.cpu(), onnx_estimator(real_frames), atol=1e-3, rtol=0)
    # Buffers are made once per batch size: a second call reuses them.
    buffers = dict(gpu._buffers)
    gpu(frames)
    assert gpu._buffers[4][0].data_ptr() == buffers[4][0].data_ptr()
