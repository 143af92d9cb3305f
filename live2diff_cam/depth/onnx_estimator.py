"""Depth maps with onnxruntime(-gpu): one session per model, frames kept on the GPU.

Owns the onnxruntime session (providers, the check that CUDA really loaded, IO binding to torch
buffers) and the model file checks (exists, is ONNX, takes (N, 3, h, w)). Pre/post-processing is
`DepthProcessor`'s; the network's input size and normalisation come from a `DepthModelSpec`,
or from the metadata `live2diff-cam export-depth` writes into the file. Knows nothing about
where files come from (see sources.py) or about the engine.

    estimator = OnnxDepthEstimator("depth.onnx", device="cuda")
    depth = estimator(frames)   # (N, 3, H, W) [0, 1] -> (N, 1, H, W) raw depth, near = larger
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from live2diff_cam.depth.base import DEPTH_ANYTHING_V2_SMALL, DepthModelSpec
from live2diff_cam.depth.processing import DepthProcessor, check_frames
from live2diff_cam.depth.sources import depth_cache_dir, missing_file_message
from live2diff_cam.errors import DepthError

log = logging.getLogger(__name__)

# Key of the JSON spec that export.py stores in the ONNX file's metadata_props.
SPEC_METADATA_KEY = "live2diff_cam.depth_spec"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
CPU = "CPUExecutionProvider"

_CUDA_FIX = (
    "onnxruntime-gpu needs CUDA 13 and cuDNN 9 libraries (the torch CUDA wheels ship them: "
    "`onnxruntime.preload_dlls()` is tried) and a supported NVIDIA driver; "
    "`live2diff-cam doctor` shows what is missing. Or run depth in PyTorch (prefer='torch')"
)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise DepthError(
            f"onnxruntime cannot be imported ({error}): `pip install onnxruntime-gpu`, "
            "or run depth in PyTorch (prefer='torch')"
        ) from error
    return onnxruntime


def spec_from_metadata(metadata: dict[str, str]) -> DepthModelSpec | None:
    """The spec export.py stored in a model's metadata, or None for a file from elsewhere."""
    text = metadata.get(SPEC_METADATA_KEY)
    if not text:
        return None
    try:
        data = json.loads(text)
        return DepthModelSpec(
            name=str(data["name"]),
            input_height=int(data["input_height"]),
            input_width=int(data["input_width"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            multiple_of=int(data.get("multiple_of", 1)),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise DepthError(
            f"the depth spec stored in the ONNX file is unreadable ({error}): re-export the "
            "model with `live2diff-cam export-depth`"
        ) from error


class OnnxDepthEstimator:
    """`DepthEstimator` on an onnxruntime session (CUDA provider on a CUDA device, else CPU).

    On CUDA, the network input is written by torch into a device buffer and the output is read
    from another, both bound with IO binding: a frame never goes through host memory. On the
    CPU, torch tensors and numpy arrays share memory. If onnxruntime lists CUDA but cannot load
    it, the session falls back to the CPU: that is logged as a warning (or raised as DepthError
    when `allow_cpu_fallback=False`) and `uses_gpu` is False.

    `spec`: input size and normalisation; default: the file's export metadata, else
    Depth-Anything-V2 (518x518, ImageNet mean/std). A model with a fixed input size uses it.
    """

    def __init__(
        self,
        model_path: str | Path,
        device: str | torch.device = "cpu",
        spec: DepthModelSpec | None = None,
        *,
        tensorrt: bool = False,
        allow_cpu_fallback: bool = True,
        warmup: bool = True,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise DepthError(missing_file_message("ONNX depth model", path))
        ort = _import_onnxruntime()
        self.model_path = path
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None and torch.cuda.is_available():
            self.device = torch.device("cuda", torch.cuda.current_device())
        want_gpu = self.device.type == "cuda"
        if self.device.type not in ("cpu", "cuda"):
            raise DepthError(f"onnxruntime depth runs on 'cpu' or 'cuda', not {self.device}")
        if tensorrt and not want_gpu:
            raise DepthError("the TensorRT provider needs device='cuda'")

        # 1. Session: once, with the providers this device wants. On CUDA onnxruntime runs on
        # a torch stream of ours, ordered against the caller's stream with events.
        usable = want_gpu and torch.cuda.is_available()
        self._stream = torch.cuda.Stream(self.device) if usable else None
        providers = self._providers(ort, self.device, tensorrt, self._stream)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle onnxruntime CPU threads spin by default, stealing the cores that torch's
        # pre/post-processing and the capture thread need right after each run.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=providers
            )
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise DepthError(
                f"{path} is not a valid ONNX model (onnxruntime: {reason}). The file is "
                "corrupt, truncated or not ONNX: download it again (`live2diff-cam download`) "
                "or re-export it (`live2diff-cam export-depth`)"
            ) from error

        # 2. What did it really get? onnxruntime-gpu lists CUDA even when it cannot load it.
        active = self.session.get_providers()
        self.provider: str = active[0]
        self.uses_gpu = want_gpu and (CUDA in active or TENSORRT in active)
        if want_gpu and not self.uses_gpu:
            message = f"onnxruntime could not start its CUDA provider for {path.name}: {_CUDA_FIX}"
            if not allow_cpu_fallback:
                raise DepthError(message)
            log.warning("%s. Depth runs on the CPU meanwhile (slow).", message)
        if tensorrt and TENSORRT not in active:
            log.warning("TensorRT provider unavailable for %s; using %s", path.name, self.provider)
        self._compute_device = self.device if self.uses_gpu else torch.device("cpu")

        # 3. Input/output names and shapes, and the spec that goes with them.
        self.input_name, self._fixed_batch, model_size = self._check_input()
        self.output_name = self.session.get_outputs()[0].name
        metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        spec = spec or spec_from_metadata(metadata) or DEPTH_ANYTHING_V2_SMALL
        if model_size is not None and model_size != (spec.input_height, spec.input_width):
            log.info("%s has a fixed input size %dx%d; using it", path.name, *model_size)
            spec = DepthModelSpec(spec.name, *model_size, spec.mean, spec.std)
        self.spec = spec
        self.processor = DepthProcessor(spec, self._compute_device)

        # 4. IO binding state: one binding, buffers per batch size (allocated once each).
        self._binding = self.session.io_binding() if self.uses_gpu else None
        self._run_options = ort.RunOptions()
        self._run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
        self._buffers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._output_shape: tuple[int, ...] | None = None
        if warmup:
            self._warmup()

    # -- setup -------------------------------------------------------------------------------

    @staticmethod
    def _providers(
        ort: Any, device: torch.device, tensorrt: bool, stream: torch.cuda.Stream | None
    ) -> list[Any]:
        if device.type != "cuda":
            return [CPU]
        available = ort.get_available_providers()
        if CUDA not in available:
            raise DepthError(
                f"this onnxruntime has no CUDA provider (it offers {available}): the CPU-only "
                "`onnxruntime` package is installed. Fix: `pip uninstall onnxruntime "
                "onnxruntime-gpu && pip install onnxruntime-gpu`, or run depth in PyTorch "
                "(prefer='torch')"
            )
        if tensorrt and TENSORRT not in available:
            raise DepthError(
                "the TensorRT provider was asked for but this onnxruntime does not offer it: "
                "install TensorRT 10 for onnxruntime-gpu, or leave TensorRT off"
            )
        preload = getattr(ort, "preload_dlls", None)
        if preload is not None:
            try:
                preload()
            except Exception as error:  # missing libraries surface in the provider check below
                log.debug("onnxruntime.preload_dlls() failed: %s", error)
        device_id = device.index or 0
        # onnxruntime enqueues on this stream and, with the run option below, returns without
        # waiting for it: torch orders its own work after it, no host synchronisation.
        on_stream = {"user_compute_stream": str(stream.cuda_stream)} if stream else {}
        providers: list[Any] = []
        if tensorrt:
            engines = depth_cache_dir() / "tensorrt"
            engines.mkdir(parents=True, exist_ok=True)
            providers.append(
                (
                    TENSORRT,
                    {
                        "device_id": device_id,
                        "trt_fp16_enable": True,
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(engines),
                        **on_stream,
                    },
                )
            )
        providers += [(CUDA, {"device_id": device_id, **on_stream}), CPU]
        return providers

    def _check_input(self) -> tuple[str, int | None, tuple[int, int] | None]:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = [i.name for i in inputs]
            raise DepthError(
                f"{self.model_path.name} takes {len(inputs)} inputs {names}; a depth model takes "
                "one image batch (N, 3, H, W)"
            )
        shape = list(inputs[0].shape)
        if len(shape) != 4 or shape[1] != 3:
            raise DepthError(
                f"{self.model_path.name} takes input {inputs[0].name!r} of shape {shape}; a depth "
                "model takes (N, 3, H, W) RGB. Is this a depth-estimation model?"
            )
        if inputs[0].type != "tensor(float)":
            raise DepthError(
                f"{self.model_path.name} takes {inputs[0].type}; only float32 models are "
                "supported (use model.onnx, not the fp16 or quantised variants)"
            )
        batch = shape[0] if isinstance(shape[0], int) else None
        if batch is not None and batch != 1:
            raise DepthError(
                f"{self.model_path.name} has a fixed batch size of {batch}: re-export it with a "
                "dynamic batch (`live2diff-cam export-depth`)"
            )
        size = None
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            size = (shape[2], shape[3])
        return inputs[0].name, batch, size

    def _warmup(self) -> None:
        # First run allocates onnxruntime's arenas (and builds TensorRT engines): pay it at load.
        size = (self.spec.input_height, self.spec.input_width)
        frame = torch.full((1, 3, *size), 0.5, device=self._compute_device)
        with self._on_own_stream():
            raw = self._run(self.processor.preprocess(frame))
        if raw.ndim not in (3, 4) or (raw.ndim == 4 and raw.shape[1] != 1):
            raise DepthError(
                f"{self.model_path.name} outputs {self.output_name!r} of shape "
                f"{tuple(raw.shape)}; a depth model outputs (N, h, w) or (N, 1, h, w)"
            )

    # -- running -----------------------------------------------------------------------------

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float [0, 1] RGB -> (N, 1, H, W) float32 raw depth, larger = nearer."""
        frames = check_frames(frames)
        if self.uses_gpu and frames.device != self.device:
            raise DepthError(
                f"frames are on {frames.device} but this depth session runs on {self.device}"
            )
        size = (frames.shape[-2], frames.shape[-1])
        with self._on_own_stream(frames):
            if self._fixed_batch == 1 and frames.shape[0] > 1:
                # The GPU output buffer is reused by the next run: copy each map out of it.
                raw = torch.cat([self._run(self._input(f)).clone() for f in frames.split(1)])
            else:
                raw = self._run(self._input(frames))
            depth = self.processor.postprocess(raw, size)
        if self._stream is not None and self.uses_gpu:
            caller = torch.cuda.current_stream(self.device)
            caller.wait_stream(self._stream)
            depth.record_stream(caller)
        return depth.to(frames.device)

    @contextlib.contextmanager
    def _on_own_stream(self, frames: torch.Tensor | None = None) -> Iterator[None]:
        """On CUDA: run the block on onnxruntime's stream, after the caller's queued work."""
        if self._stream is None or not self.uses_gpu:
            yield
            return
        self._stream.wait_stream(torch.cuda.current_stream(self.device))
        if frames is not None and frames.is_cuda:
            frames.record_stream(self._stream)
        with torch.cuda.stream(self._stream):
            yield

    def _input(self, frames: torch.Tensor) -> torch.Tensor:
        if not self.uses_gpu:
            return self.processor.preprocess(frames)
        buffer, _ = self._gpu_buffers(frames.shape[0])
        return self.processor.preprocess(frames, out=buffer)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """Network input (N, 3, h, w) float32 on the compute device -> raw output tensor."""
        if not self.uses_gpu:
            (out,) = self.session.run([self.output_name], {self.input_name: x.numpy()})
            return torch.from_numpy(out)
        return self._run_bound(x)

    def _gpu_buffers(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if batch not in self._buffers:
            size = (self.spec.input_height, self.spec.input_width)
            device = self._compute_device
            inp = torch.empty((batch, 3, *size), dtype=torch.float32, device=device)
            shape = self._output_shape or (1, *size)
            out = torch.empty((batch, *shape), dtype=torch.float32, device=device)
            self._buffers[batch] = (inp, out)
        return self._buffers[batch]

    def _run_bound(self, x: torch.Tensor) -> torch.Tensor:
        binding = self._binding
        assert binding is not None, "IO binding exists only on the GPU path"
        device_id = x.device.index or 0
        if self._output_shape is None:
            # Warm-up: let onnxruntime allocate the output once to learn its per-frame shape.
            self._bind_input(binding, x, device_id)
            binding.bind_output(self.output_name, "cuda", device_id)
            self.session.run_with_iobinding(binding)  # at load: waits for its stream
            raw = binding.copy_outputs_to_cpu()[0]
            self._output_shape = tuple(raw.shape[1:])
            self._buffers.clear()
            return torch.from_numpy(raw).to(x.device)
        if (
            x.shape[0] not in self._buffers
            or x.data_ptr() != self._buffers[x.shape[0]][0].data_ptr()
        ):
            inp, _ = self._gpu_buffers(x.shape[0])
            inp.copy_(x)
            x = inp
        _, out = self._buffers[x.shape[0]]
        self._bind_input(binding, x, device_id)
        binding.bind_output(
            name=self.output_name,
            device_type="cuda",
            device_id=device_id,
            element_type=np.float32,
            shape=tuple(out.shape),
            buffer_ptr=out.data_ptr(),
        )
        # The input was written on this same stream (`_on_own_stream`): already ordered.
        self.session.run_with_iobinding(binding, self._run_options)  # returns once queued
        return out

    def _bind_input(self, binding: Any, x: torch.Tensor, device_id: int) -> None:
        binding.bind_input(
            name=self.input_name,
            device_type="cuda",
            device_id=device_id,
            element_type=np.float32,
            shape=tuple(x.shape),
            buffer_ptr=x.data_ptr(),
        )

    def __repr__(self) -> str:
        return (
            f"OnnxDepthEstimator({self.model_path.name!r}, provider={self.provider}, "
            f"input={self.spec.input_height}x{self.spec.input_width})"
        )
