"""Everything `run` can check before a sink opens, so a run that cannot work touches no file.

Owns three checks: that no sink writes over the source (or over another sink), that the engine
request names a device, dtype and size the engine accepts and a size that fits in memory, and
that every model file it names exists and is complete (a truncated download is caught here by
its header, not minutes later by the loader). The engine's own `EngineConfig` decides what a
valid size and dtype are; this module only asks it early. It loads no model and opens no sink.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from live2diff_cam.app.engine_build import EngineRequest
from live2diff_cam.errors import EngineError, ModelLoadError, SinkError

# What a file-type model source ends in; anything else may be a hub id or a folder.
MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# The SD1.5 autoencoder decodes through 128-channel feature maps at the full output size and
# holds about four of them at once (input, output, normalisation, skip): a floor for what one
# frame needs, before the UNet, the models and the frames in flight.
DECODER_CHANNELS = 128
DECODER_LIVE_MAPS = 4


# ----------------------------------------------------------------- paths
def _file_of(thing: object) -> Path | None:
    """The file or folder a source or sink reads or writes, if it is one."""
    for attribute in ("path", "folder"):
        value = getattr(thing, attribute, None)
        if isinstance(value, Path):
            return value.expanduser().resolve()
    return None


def check_paths(source: object, sinks: Iterable[object], depth_folder: Path | None) -> None:
    """Refuse a sink (or the depth folder) that is the source or another sink's file."""
    source_path = _file_of(source)
    seen: dict[Path, str] = {}
    outputs = [(getattr(sink, "name", str(sink)), _file_of(sink)) for sink in sinks]
    if depth_folder is not None:
        outputs.append((f"--save-depth {depth_folder}", depth_folder.expanduser().resolve()))
    for name, path in outputs:
        if path is None:
            continue
        if source_path is not None and path == source_path:
            raise SinkError(
                f"the sink would overwrite the source: '{name}' writes to {path}, which the run "
                "reads from. Write to another file or folder."
            )
        if path in seen:
            raise SinkError(
                f"two outputs write to {path} ('{seen[path]}' and '{name}'): give each its own "
                "file or folder."
            )
        seen[path] = name


# ----------------------------------------------------------------- model files
def _looks_like_a_file(source: str) -> bool:
    return source.lower().endswith(MODEL_FILE_SUFFIXES) or source.startswith(("/", ".", "~", "\\"))


def check_model_file(source: str, what: str) -> None:
    """A path-like model source exists and, for a single file, is complete.

    Hub ids, built-in names and folders pass: the loader resolves those.
    """
    path = Path(source).expanduser()
    if path.is_dir() or (not _looks_like_a_file(source) and not path.is_file()):
        return
    if not path.is_file():
        raise ModelLoadError(f"{what} file {path} does not exist; check the path.")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import safe_open

        try:
            # Reads the header only; it names every tensor's byte range, so a file cut short
            # by a failed download is caught without reading the weights.
            with safe_open(str(path), framework="numpy") as weights:
                weights.keys()
        except Exception as error:
            raise ModelLoadError(
                f"{what} file {path} is incomplete or damaged ({error}); download it again."
            ) from None
    elif suffix in (".ckpt", ".pt", ".pth"):
        with path.open("rb") as file:
            is_zip_format = file.read(4) == b"PK\x03\x04"
        # torch.save writes a zip; its index sits at the end, so a cut file has none.
        if is_zip_format and not zipfile.is_zipfile(path):
            raise ModelLoadError(
                f"{what} file {path} is incomplete (its zip index is missing: the download or "
                "copy was cut short); download it again."
            )


def check_model_files(request: EngineRequest) -> None:
    check_model_file(request.model, "model")
    for lora, _ in request.lora:
        check_model_file(lora, "LoRA")
    if request.motion_module and request.motion_module.lower() != "none":
        check_model_file(request.motion_module, "motion-module")
    if request.vae and request.vae.lower() != "taesd":
        check_model_file(request.vae, "VAE")


# ----------------------------------------------------------------- device, dtype, size, memory
def frame_memory_bytes(height: int, width: int, dtype: str) -> int:
    """A lower bound of the memory one frame of this size needs in the engine."""
    return height * width * DECODER_CHANNELS * DECODER_LIVE_MAPS * _DTYPE_BYTES.get(dtype, 4)


def _gib(size: int) -> str:
    gib = size / 2**30
    return f"{gib / 1024:.1f} TiB" if gib >= 1024 else f"{gib:.1f} GiB"


def device_memory_bytes(device: str) -> int:
    """Total memory of `device`: the GPU's for cuda, physical RAM otherwise."""
    if device.startswith("cuda"):
        import torch

        index = int(device.partition(":")[2] or torch.cuda.current_device())
        return int(torch.cuda.get_device_properties(index).total_memory)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_device(device: str) -> None:
    if not _DEVICE.fullmatch(device):
        raise EngineError(f"--device {device!r} is not a device: use auto, cuda, cuda:N or cpu.")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise EngineError(
                f"--device {device}: PyTorch sees no CUDA device here. Use --device cpu, or run "
                "`live2diff-cam doctor` to see why."
            )
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise EngineError(
                f"--device {device}: there are only {torch.cuda.device_count()} CUDA devices "
                "(cuda:0 ...)."
            )


def check_engine_request(request: EngineRequest) -> None:
    """Device, dtype, size and model files, as the engine will see them; raises the engine's
    own error types with the fix."""
    # Files first: the cheapest check, and it needs no torch.
    check_model_files(request)
    check_device(request.device)
    from live2diff_cam.engine.config import EngineConfig

    # The engine's config owns the rules for size (multiples of 8), dtype and steps.
    dtype = request.dtype
    EngineConfig(
        height=request.height,
        width=request.width,
        steps=request.steps,
        strength=request.strength,
        dtype="float32" if dtype == "auto" else dtype,
        depth_scale=request.depth_scale,
    )
    device = request.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":  # as engine_build picks it
        dtype = "float16" if device.startswith("cuda") else "float32"
    needed = frame_memory_bytes(request.height, request.width, dtype)
    available = device_memory_bytes(device)
    if needed > available:
        raise EngineError(
            f"{request.width}x{request.height} needs at least {_gib(needed)} of memory for one "
            f"{dtype} frame in the autoencoder alone; {device} has {_gib(available)}. Use a "
            "smaller --width / --height (the models are trained at 512x512)."
        )
