"""Depth maps with a plain torch module: the fallback where onnxruntime cannot run.

Owns `TorchDepthEstimator` (any module taking `pixel_values` (N, 3, h, w), e.g. a transformers
`DepthAnythingForDepthEstimation` or `DPTForDepthEstimation`) and loading such a model from a hub
id or a local folder with transformers. Pre/post-processing is shared with the ONNX path
(`DepthProcessor`), so both give the same maps for the same network.

    model, spec = load_transformers_depth_model("depth-anything/Depth-Anything-V2-Small-hf")
    estimator = TorchDepthEstimator(model, spec, device="cuda", dtype=torch.float16)
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from live2diff_cam.depth.base import DepthModelSpec, spec_for_model_type
from live2diff_cam.depth.processing import DepthProcessor, check_frames
from live2diff_cam.depth.sources import looks_like_hub_id, missing_file_message
from live2diff_cam.errors import DepthError

log = logging.getLogger(__name__)


def raw_depth(output: object) -> torch.Tensor:
    """The depth tensor of a model output: `.predicted_depth`, a tuple's first item, or a tensor."""
    if isinstance(output, torch.Tensor):
        return output
    predicted = getattr(output, "predicted_depth", None)
    if isinstance(predicted, torch.Tensor):
        return predicted
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise DepthError(
        f"the depth model returned {type(output).__name__}; expected a tensor or an output with "
        "`predicted_depth` (a transformers depth-estimation model)"
    )


class TorchDepthEstimator:
    """`DepthEstimator` on a torch module, on any torch device, same contract as the ONNX one.

    `module(pixel_values)` gets (N, 3, h, w) normalised per `spec` and returns raw depth
    (N, h, w) or (N, 1, h, w), larger = nearer. `dtype` (e.g. float16 on CUDA) is the module's
    compute dtype; maps come out float32 either way.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        spec: DepthModelSpec,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        warmup: bool = True,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.spec = spec
        self.module = module.to(device=self.device, dtype=dtype).eval()
        self.processor = DepthProcessor(spec, self.device)
        self.uses_gpu = self.device.type == "cuda"
        self.provider = f"torch ({self.device.type})"
        if warmup:
            size = (spec.input_height, spec.input_width)
            raw = self._run(self.processor.preprocess(torch.full((1, 3, *size), 0.5)))
            if raw.ndim not in (3, 4) or (raw.ndim == 4 and raw.shape[1] != 1):
                raise DepthError(
                    f"the depth module outputs shape {tuple(raw.shape)}; expected (N, h, w) or "
                    "(N, 1, h, w)"
                )

    @torch.inference_mode()
    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return raw_depth(self.module(x.to(self.dtype)))

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float [0, 1] RGB -> (N, 1, H, W) float32 raw depth, larger = nearer."""
        frames = check_frames(frames)
        size = (frames.shape[-2], frames.shape[-1])
        with torch.inference_mode():
            raw = self._run(self.processor.preprocess(frames))
            depth = self.processor.postprocess(raw, size)
        return depth.to(frames.device)

    def __repr__(self) -> str:
        return (
            f"TorchDepthEstimator({type(self.module).__name__}, device={self.device}, "
            f"input={self.spec.input_height}x{self.spec.input_width})"
        )


def spec_for_config(config: object) -> DepthModelSpec:
    """The input spec of a transformers depth model, from its config."""
    model_type = str(getattr(config, "model_type", ""))
    backbone = getattr(config, "backbone_config", None)
    image_size = getattr(config, "image_size", None)
    if model_type.startswith("depth_anything") and backbone is not None:
        image_size = getattr(backbone, "image_size", None)
    if isinstance(image_size, (tuple, list)):
        image_size = image_size[0]
    return spec_for_model_type(model_type, int(image_size) if image_size else None)


def load_transformers_depth_model(source: str | Path) -> tuple[torch.nn.Module, DepthModelSpec]:
    """A transformers depth model (hub id or local folder) in eval mode, with its input spec.

    Uses the Hugging Face cache first; raises DepthError saying what to download when the
    weights are neither cached nor downloadable.
    """
    text = str(source)
    local = Path(text).expanduser()
    if not local.exists() and not looks_like_hub_id(text):
        raise DepthError(missing_file_message("depth model folder", local))
    if local.is_dir() and not (local / "config.json").is_file():
        raise DepthError(
            f"{local} has no config.json: pass a transformers depth-model folder (config.json + "
            "model.safetensors), e.g. a `save_pretrained` output, or an .onnx file"
        )
    try:
        from transformers import AutoModelForDepthEstimation
    except ImportError as error:
        raise DepthError(
            f"transformers cannot be imported ({error}): pip install transformers"
        ) from error
    location = str(local) if local.exists() else text
    try:
        model = AutoModelForDepthEstimation.from_pretrained(location, local_files_only=True)
    except (OSError, ValueError) as cached_error:
        if local.exists():
            raise DepthError(
                f"cannot load the depth model in {local} ({_first_line(cached_error)}): the "
                "folder must hold config.json and the weights of a transformers depth model"
            ) from cached_error
        log.info("%s not in the Hugging Face cache; downloading", text)
        try:
            if _hub_offline():
                raise OSError("offline mode (HF_HUB_OFFLINE) is on") from cached_error
            model = AutoModelForDepthEstimation.from_pretrained(text)
        except (OSError, ValueError) as error:
            raise DepthError(
                f"depth model {text!r} is not in the Hugging Face cache and could not be "
                f"downloaded ({_first_line(error)}). Fix: run `live2diff-cam download` where "
                f"there is internet (or `hf download {text}`) and copy the cache folder here, "
                "or pass a local folder with its config.json and weights"
            ) from error
    return model.eval(), spec_for_config(model.config)


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
