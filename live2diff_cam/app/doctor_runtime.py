"""Doctor's runtime checks: a supported Python, the declared packages import (and no
conflicting distributions), torch's CUDA device, and onnxruntime really running a one-node model
on the provider the depth model will use. That model is protobuf bytes encoded here, so the
check needs no `onnx` package. Every probe (importer, versions) is a parameter for tests.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import sys
from collections.abc import Callable, Iterable, Sequence

from live2diff_cam.app.doctor_check import Check, Importer, Status, first_line

MIN_PYTHON = (3, 10)
# SD1.5 fp16 + the motion module + KV-cache at 512x512: below this a stream does not fit.
MIN_GPU_MEMORY_GIB = 6.0

TORCH_CUDA_FIX = (
    "install a CUDA build of torch (https://pytorch.org/get-started/locally/), e.g. "
    "`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu130`, on a "
    "machine with an NVIDIA GPU; streaming at usable speed needs an NVIDIA GPU, the CPU works "
    "only for the tiny test model"
)


# --- Python and packages -------------------------------------------------------------------


def check_python(version: Sequence[int] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(str(v) for v in version)
    if tuple(version[:2]) < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Check(
            "python",
            Status.FAIL,
            f"Python {shown} is too old",
            f"install Python >= {need} and reinstall: pip install torch==2.13.0 && pip install .",
        )
    return Check("python", Status.OK, f"Python {shown} ({sys.executable})")


# (import name, distribution name(s) that provide it, what it is for)
PACKAGES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("torch", ("torch",), "the engine"),
    ("diffusers", ("diffusers",), "SD1.5 blocks and loaders"),
    ("transformers", ("transformers",), "the CLIP text encoder"),
    ("einops", ("einops",), "tensor layouts"),
    ("safetensors", ("safetensors",), "weights"),
    ("huggingface_hub", ("huggingface_hub", "huggingface-hub"), "model downloads"),
    ("numpy", ("numpy",), "frames"),
    ("onnxruntime", ("onnxruntime-gpu", "onnxruntime"), "the depth model"),
    ("cv2", ("opencv-python-headless", "opencv-python"), "camera and video files"),
    ("mss", ("mss",), "screen capture"),
    ("pyvirtualcam", ("pyvirtualcam",), "the virtual camera"),
    ("PySide6.QtCore", ("PySide6-Essentials", "PySide6"), "the desktop window"),
)


def _distribution_version(names: Iterable[str]) -> tuple[str, str] | None:
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_package(
    module_name: str,
    distributions: Sequence[str],
    purpose: str,
    importer: Importer = importlib.import_module,
    version_of: Callable[[Iterable[str]], tuple[str, str] | None] = _distribution_version,
) -> Check:
    name = distributions[0]
    try:
        importer(module_name)
    except Exception as error:  # a broken native library raises OSError, not only ImportError
        return Check(
            name,
            Status.FAIL,
            f"`import {module_name}` failed ({purpose}): {first_line(error)}",
            f"reinstall it: pip install --force-reinstall {name} (or pip install -e . in the "
            "checkout); run with --debug for the traceback",
        )
    found = version_of(distributions)
    shown = f"{found[0]} {found[1]}" if found else "version unknown (not installed by pip)"
    return Check(name, Status.OK, f"{shown} ({purpose})")


def check_conflicting_distributions(
    installed: Callable[[str], bool] | None = None,
) -> list[Check]:
    """Pairs of wheels that install the same module and silently shadow each other."""

    def _is_installed(name: str) -> bool:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            return False
        return True

    has = installed or _is_installed
    checks: list[Check] = []
    if has("onnxruntime") and has("onnxruntime-gpu"):
        checks.append(
            Check(
                "onnxruntime-conflict",
                Status.WARN,
                "both onnxruntime and onnxruntime-gpu are installed; they ship the same module "
                "and the last one installed wins",
                "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu",
            )
        )
    if has("opencv-python") and has("PySide6-Essentials"):
        checks.append(
            Check(
                "opencv-conflict",
                Status.WARN,
                "opencv-python ships its own Qt plugins, which clash with PySide6",
                "pip uninstall -y opencv-python && pip install opencv-python-headless",
            )
        )
    return checks


# --- torch device --------------------------------------------------------------------------


def check_torch_device(importer: Importer = importlib.import_module) -> Check:
    try:
        torch = importer("torch")
    except Exception as error:
        return Check(
            "cuda",
            Status.FAIL,
            f"torch does not import: {first_line(error)}",
            "install torch first: pip install torch==2.13.0 (CPU) or a CUDA build",
        )
    try:
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            gib = props.total_memory / 2**30
            cap = f"sm_{props.major}{props.minor}"
            detail = (
                f"{props.name}, {gib:.1f} GiB, {cap}, CUDA {torch.version.cuda}, "
                f"{torch.cuda.device_count()} device(s)"
            )
            if gib < MIN_GPU_MEMORY_GIB:
                return Check(
                    "cuda",
                    Status.WARN,
                    detail + f": less than {MIN_GPU_MEMORY_GIB:.0f} GiB",
                    "use 512x512 or smaller, 1-2 steps and float16; close other GPU programs",
                )
            return Check("cuda", Status.OK, detail)
        mps = getattr(getattr(torch, "backends", None), "mps", None)
        mps_seen = bool(mps is not None and mps.is_available())
        build = torch.version.cuda
        if build is None:
            detail = f"torch {torch.__version__} is a CPU-only build"
        else:
            detail = f"torch {torch.__version__} (CUDA {build}) sees no CUDA device"
        if mps_seen:
            detail += "; an Apple GPU (MPS) is present but too slow for a live stream"
        fix = (
            TORCH_CUDA_FIX
            if build is None
            else "check the NVIDIA driver with `nvidia-smi` and CUDA_VISIBLE_DEVICES; "
            + "streaming at usable speed needs an NVIDIA GPU, the CPU works only for the tiny "
            + "test model"
        )
        return Check("cuda", Status.FAIL, detail, fix)
    except Exception as error:
        return Check(
            "cuda",
            Status.FAIL,
            f"querying the CUDA device failed: {first_line(error)}",
            "check the NVIDIA driver with `nvidia-smi`; reinstall the CUDA build of torch",
        )


def torch_sees_cuda(importer: Importer = importlib.import_module) -> bool:
    try:
        return bool(importer("torch").cuda.is_available())
    except Exception:
        return False


# --- onnxruntime ---------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | int | str) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def tiny_onnx_model() -> bytes:
    """A one-node ONNX model, y = relu(x) for x: (1, 4) float32, encoded by hand.

    Written as raw protobuf so doctor needs no `onnx` package. Field numbers are onnx.proto's.
    """

    def value_info(name: str) -> bytes:
        dims = _field(1, _field(1, 1)) + _field(1, _field(1, 4))  # Dimension.dim_value
        tensor = _field(1, 1) + _field(2, dims)  # elem_type FLOAT, shape
        return _field(1, name) + _field(2, _field(1, tensor))  # name, TypeProto.tensor_type

    node = _field(1, "x") + _field(2, "y") + _field(4, "Relu")
    graph = _field(1, node) + _field(2, "doctor") + _field(11, value_info("x"))
    graph += _field(12, value_info("y"))
    opset = _field(1, "") + _field(2, 17)
    return _field(1, 8) + _field(7, graph) + _field(8, opset)  # ir_version 8, graph, opset


def check_onnxruntime(
    importer: Importer = importlib.import_module,
    want_cuda: bool | None = None,
) -> Check:
    """Create a real session: the listed providers say what was built, not what loads."""
    try:
        ort = importer("onnxruntime")
    except Exception as error:
        return Check(
            "onnxruntime",
            Status.WARN,
            f"onnxruntime does not import: {first_line(error)}",
            "pip install --force-reinstall onnxruntime-gpu (depth then falls back to torch)",
        )
    available = list(ort.get_available_providers())
    listed_cuda = "CUDAExecutionProvider" in available
    cuda_wanted = torch_sees_cuda(importer) if want_cuda is None else want_cuda
    asked = ["CUDAExecutionProvider", "CPUExecutionProvider"] if listed_cuda else []
    asked = asked or ["CPUExecutionProvider"]
    try:
        if cuda_wanted and hasattr(ort, "preload_dlls"):
            # Take CUDA/cuDNN from the torch CUDA wheels, as the depth module does.
            ort.preload_dlls()
        options = ort.SessionOptions()
        # A CUDA provider that cannot load logs an error; the outcome is reported below.
        options.log_severity_level = 4
        ort.set_default_logger_severity(4)
        try:
            session = ort.InferenceSession(tiny_onnx_model(), options, providers=asked)
        finally:
            ort.set_default_logger_severity(2)
        used = list(session.get_providers())
        import numpy as np

        x = np.array([[-1.0, 0.0, 2.0, -3.0]], dtype=np.float32)
        (y,) = session.run(["y"], {"x": x})
        if not np.array_equal(y, np.maximum(x, 0.0)):
            raise RuntimeError(f"relu gave {y.tolist()}")
    except Exception as error:
        return Check(
            "onnxruntime",
            Status.WARN,
            f"onnxruntime {ort.__version__} could not run a one-node model: {first_line(error)}",
            "pip install --force-reinstall onnxruntime-gpu (depth then falls back to torch)",
        )
    version = f"onnxruntime {ort.__version__}"
    if "CUDAExecutionProvider" in used:
        return Check("onnxruntime", Status.OK, f"{version}: a session runs on CUDA ({used})")
    if cuda_wanted:
        return Check(
            "onnxruntime",
            Status.WARN,
            f"{version}: torch sees a GPU but the session fell back to {used} "
            f"(available: {available})",
            "onnxruntime-gpu needs the CUDA 13 and cuDNN 9 libraries: install a CUDA 13 build "
            "of torch (its wheels carry them) or `pip install nvidia-cudnn-cu13`",
        )
    if listed_cuda:
        detail = (
            f"{version}: CUDAExecutionProvider is listed but cannot load here; the session "
            f"ran on {used}, so depth runs on the CPU"
        )
    else:
        detail = f"{version}: the session ran on {used}; depth runs on the CPU"
    return Check(
        "onnxruntime",
        Status.WARN,
        detail,
        "on a machine with an NVIDIA GPU and a CUDA build of torch the depth model runs on CUDA",
    )
