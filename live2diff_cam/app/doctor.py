"""`live2diff-cam doctor`: check this machine and print one line per check with the fix.

Owns the checks (Python and packages, torch's CUDA device, onnxruntime's real provider, the
virtual-camera backend per OS, screen capture, the Qt platform, the model cache and free disk)
and the exit code. Each check is a small function that returns a `Check`; every input it probes
(module importer, sysfs root, environment, registry reader) is a parameter, so a test drives it
without the hardware. A check never raises: a broken machine is what doctor exists to report.

It knows nothing about how the engine, sources or sinks use what it checks; it only asks the
same questions they will ask, and says what to do when the answer is no. On Linux the
virtual-camera question goes to the sinks part (`sinks.vcam_setup.virtual_camera_status`, the
v4l2loopback sysfs probe); on Windows and macOS doctor looks for the OBS Virtual Camera install
itself (registry key, system extension), which pyvirtualcam's backend list cannot tell.

Exit code: 0 when the essentials hold, 1 when any check FAILs. Essentials (the only checks
that can FAIL): a supported Python, the declared packages import, and a CUDA device for torch,
since streaming at a usable speed needs an NVIDIA GPU (the CPU runs only the tiny test model).
Everything else (virtual camera, display, Qt platform, cache) is at worst a WARN: the app still
runs headless, previews or records without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata as metadata
import importlib.util
import json
import os
import platform
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

OK, WARN, FAIL = "OK", "WARN", "FAIL"

MIN_PYTHON = (3, 10)
# SD1.5 fp16 + the motion module + KV-cache at 512x512: below this a stream does not fit.
MIN_GPU_MEMORY_GIB = 6.0
# SD1.5 fp16 (2.0 GB) + live2diff.ckpt (1.7 GB) + depth and small models, with room to spare.
MIN_FREE_DISK_GIB = 8.0

VCAM_LABEL = "Live2Diff Camera"
MODPROBE_LINE = f'sudo modprobe v4l2loopback devices=1 card_label="{VCAM_LABEL}" exclusive_caps=1'
SETUP_SCRIPT_HINT = "or run packaging/linux/setup-v4l2loopback.sh to make it survive reboots"

# The DirectShow filter OBS Studio registers for its virtual camera (plugins/win-dshow).
OBS_VCAM_CLSID = "{A3FCE0F5-3493-419F-958A-ABA1250EC20B}"
OBS_MAC_DAL_PLUGIN = Path("/Library/CoreMediaIO/Plug-Ins/DAL/obs-mac-virtualcam.plugin")
OBS_MAC_EXTENSION = "com.obsproject.obs-studio.mac-camera-extension.systemextension"
OBS_MAC_EXTENSION_DIRS = (
    Path("/Library/SystemExtensions"),
    Path("/Applications/OBS.app/Contents/Library/SystemExtensions"),
)

TORCH_CUDA_FIX = (
    "install a CUDA build of torch (https://pytorch.org/get-started/locally/), e.g. "
    "`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu130`, on a "
    "machine with an NVIDIA GPU; streaming at usable speed needs an NVIDIA GPU, the CPU works "
    "only for the tiny test model"
)


class Status(str, Enum):
    """How a check came out. FAIL only for the essentials (see the module docstring)."""

    OK = OK
    WARN = WARN
    FAIL = FAIL


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it came out, what was seen, the fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Check.name must not be empty")
        object.__setattr__(self, "status", Status(self.status))
        if self.status is not Status.OK and not self.fix:
            raise ValueError(f"check {self.name!r} is {self.status.value} but gives no fix")

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


Importer = Callable[[str], ModuleType]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


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
            f"`import {module_name}` failed ({purpose}): {_first_line(error)}",
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
            f"torch does not import: {_first_line(error)}",
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
            f"querying the CUDA device failed: {_first_line(error)}",
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
            f"onnxruntime does not import: {_first_line(error)}",
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
            f"onnxruntime {ort.__version__} could not run a one-node model: {_first_line(error)}",
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


# --- virtual camera ------------------------------------------------------------------------


VcamStatus = Callable[[], tuple[bool, str, str]]


def _sinks_vcam_status() -> tuple[bool, str, str]:
    # The sink part owns the OS knowledge (sysfs probe, card label, modprobe line); doctor
    # asks it the same question the virtual-camera sink asks before it opens the device.
    from live2diff_cam.app.sinks.vcam_setup import virtual_camera_status

    return virtual_camera_status()


def check_virtual_camera_linux(status: VcamStatus = _sinks_vcam_status) -> Check:
    """v4l2loopback loaded? which /dev/videoN, labelled what, writable? (from the sinks part)"""
    ok, detail, fix = status()
    if ok and not fix:
        return Check("virtual-camera", Status.OK, detail)
    if not ok and "not loaded" in detail:
        detail += " (preview and recording still work)"
    return Check(
        "virtual-camera", Status.WARN, detail, fix or f"{MODPROBE_LINE}; {SETUP_SCRIPT_HINT}"
    )


def _windows_registry_has(clsid: str) -> bool:
    import winreg  # type: ignore[import-not-found]  # only on Windows

    for view in (winreg.KEY_WOW64_64KEY, winreg.KEY_WOW64_32KEY):
        try:
            key = winreg.OpenKey(
                winreg.HKEY_CLASSES_ROOT, f"CLSID\\{clsid}", 0, winreg.KEY_READ | view
            )
        except OSError:
            continue
        winreg.CloseKey(key)
        return True
    return False


def check_virtual_camera_windows(
    registry_has: Callable[[str], bool] = _windows_registry_has,
    environ: Mapping[str, str] = os.environ,
) -> Check:
    try:
        registered = registry_has(OBS_VCAM_CLSID)
    except Exception as error:
        registered = False
        reason = f" (registry read failed: {_first_line(error)})"
    else:
        reason = ""
    if registered:
        return Check(
            "virtual-camera",
            Status.OK,
            "OBS Virtual Camera filter is registered; apps list it as 'OBS Virtual Camera'",
        )
    program_files = environ.get("ProgramFiles", r"C:\Program Files")
    dll = Path(program_files, "obs-studio", "data", "obs-plugins", "win-dshow")
    hint = f" ({dll} exists: start OBS once and click Start Virtual Camera)" if dll.is_dir() else ""
    return Check(
        "virtual-camera",
        Status.WARN,
        f"OBS Virtual Camera is not registered{reason}{hint}",
        "install OBS Studio >= 26 from https://obsproject.com, start it once and click "
        "'Start Virtual Camera', then close OBS; apps show the camera as 'OBS Virtual Camera'",
    )


def check_virtual_camera_macos(
    dal_plugin: Path = OBS_MAC_DAL_PLUGIN,
    extension_dirs: Sequence[Path] = OBS_MAC_EXTENSION_DIRS,
) -> Check:
    for root in extension_dirs:
        if root.is_dir() and any(root.rglob(OBS_MAC_EXTENSION)):
            return Check(
                "virtual-camera",
                Status.OK,
                f"OBS camera system extension found under {root}; apps list 'OBS Virtual Camera'",
            )
    if dal_plugin.exists():
        return Check(
            "virtual-camera",
            Status.WARN,
            f"only the old OBS DAL plug-in is installed ({dal_plugin}); recent macOS and "
            "pyvirtualcam use the OBS 30+ camera system extension",
            "update OBS Studio to >= 30, start it, click 'Start Virtual Camera' and allow the "
            "system extension in System Settings > Privacy & Security",
        )
    return Check(
        "virtual-camera",
        Status.WARN,
        "OBS Virtual Camera is not installed",
        "install OBS Studio >= 30 from https://obsproject.com, click 'Start Virtual Camera' "
        "once and allow the system extension in System Settings > Privacy & Security",
    )


def check_virtual_camera(system: str | None = None) -> Check:
    system = system or platform.system()
    try:
        if system == "Linux":
            return check_virtual_camera_linux()
        if system == "Windows":
            return check_virtual_camera_windows()
        if system == "Darwin":
            return check_virtual_camera_macos()
    except Exception as error:
        return Check(
            "virtual-camera",
            Status.WARN,
            f"could not probe the virtual camera: {_first_line(error)}",
            "run with --debug and report it",
        )
    return Check(
        "virtual-camera",
        Status.WARN,
        f"no virtual-camera backend for {system}",
        "use Linux (v4l2loopback), Windows or macOS (OBS Virtual Camera)",
    )


# --- display: screen capture and Qt --------------------------------------------------------


def _count_monitors() -> int:
    import mss

    # Opened and closed here, on this thread: mss handles are thread-local on Windows.
    with mss.mss() as screen:
        return len(screen.monitors) - 1  # monitors[0] is the union of all of them


def check_screen_capture(
    system: str | None = None,
    environ: Mapping[str, str] = os.environ,
    count_monitors: Callable[[], int] = _count_monitors,
) -> Check:
    system = system or platform.system()
    display, wayland = environ.get("DISPLAY"), environ.get("WAYLAND_DISPLAY")
    if system == "Linux" and not display:
        if wayland:
            return Check(
                "screen-capture",
                Status.WARN,
                f"Wayland ({wayland}) without XWayland: mss needs X11, screen capture is off",
                "enable XWayland (DISPLAY must be set) or log in to an X11 session; camera and "
                "file sources still work",
            )
        return Check(
            "screen-capture",
            Status.WARN,
            "no display (DISPLAY and WAYLAND_DISPLAY unset): screen capture is off",
            "run inside a desktop session (mss needs X11 or XWayland); camera and file sources "
            "work headless",
        )
    try:
        monitors = count_monitors()
    except Exception as error:
        fix = "check that this user may open the display (XAUTHORITY, `xhost`)"
        if system == "Darwin":
            fix = "allow Screen Recording for this app in System Settings > Privacy & Security"
        return Check(
            "screen-capture",
            Status.WARN,
            f"mss could not open the screen: {_first_line(error)}",
            fix + "; camera and file sources still work",
        )
    where = f"{monitors} monitor(s)"
    if system == "Linux":
        where += f" on X11 display {display}"
        if wayland:
            where += " (XWayland: native Wayland windows may capture black)"
    elif system == "Darwin":
        where += "; the first capture asks for Screen Recording permission"
    return Check("screen-capture", Status.OK, where)


def _qt_plugin_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "Qt" / "plugins" / "platforms", root / "plugins" / "platforms"):
        if candidate.is_dir():
            return candidate
    return None


def _dlopen_error(path: Path) -> str:
    import ctypes

    try:
        ctypes.CDLL(str(path))
    except OSError as error:
        return str(error)
    return ""


def check_qt_platform(
    system: str | None = None,
    environ: Mapping[str, str] = os.environ,
    plugin_dir: Path | bool | None = True,
    dlopen_error: Callable[[Path], str] = _dlopen_error,
) -> Check:
    """Can the GUI open a window? Asks without creating a QApplication (Qt aborts on failure)."""
    system = system or platform.system()
    forced = environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if forced in ("offscreen", "minimal"):
        return Check(
            "qt-platform",
            Status.OK,
            f"QT_QPA_PLATFORM={forced}: the GUI renders off screen (tests, no window)",
        )
    if system != "Linux":
        return Check("qt-platform", Status.OK, f"{system}: Qt uses the native platform")
    display, wayland = environ.get("DISPLAY"), environ.get("WAYLAND_DISPLAY")
    if not (forced or display or wayland):
        return Check(
            "qt-platform",
            Status.WARN,
            "no display: the GUI cannot open here",
            "use `live2diff-cam run` headless, or `xvfb-run live2diff-cam`, or run in a "
            "desktop session",
        )
    name = forced or ("wayland" if wayland and not display else "xcb")
    folder = _qt_plugin_dir() if plugin_dir is True else plugin_dir
    if not isinstance(folder, Path):
        return Check(
            "qt-platform",
            Status.WARN,
            "PySide6's platform plug-ins were not found",
            "pip install --force-reinstall PySide6-Essentials",
        )
    plugin = folder / f"libq{name}.so"
    if not plugin.exists():
        return Check(
            "qt-platform",
            Status.WARN,
            f"Qt platform {name!r} has no plug-in in {folder}",
            "unset QT_QPA_PLATFORM or set it to xcb, wayland or offscreen",
        )
    error = dlopen_error(plugin)
    if error:
        return Check(
            "qt-platform",
            Status.WARN,
            f"Qt platform {name!r} cannot load: {error}",
            "install Qt's X11/EGL runtime libraries, e.g. on Debian/Ubuntu: sudo apt install "
            "libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libegl1 libgl1 "
            "libfontconfig1 libdbus-1-3",
        )
    return Check("qt-platform", Status.OK, f"Qt platform {name!r} loads ({plugin.name})")


# --- model cache and disk ------------------------------------------------------------------


def _existing_parent(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def check_model_cache(
    cache_dir: Path | None = None,
    disk_usage: Callable[[Path], Any] = shutil.disk_usage,
    cached_models: Callable[[Path], tuple[list[str], list[str]]] | None = None,
) -> Check:
    try:
        if cache_dir is None:
            from huggingface_hub import constants

            cache_dir = Path(constants.HF_HUB_CACHE)
        free_gib = disk_usage(_existing_parent(cache_dir)).free / 2**30
        if cached_models is None:
            from live2diff_cam.app.download import cached_models as probe

            cached_models = probe
        have, missing = cached_models(cache_dir)
    except Exception as error:
        return Check(
            "model-cache",
            Status.WARN,
            f"could not inspect the model cache: {_first_line(error)}",
            "set HF_HOME (or HF_HUB_CACHE) to a writable folder",
        )
    where = f"{cache_dir} ({free_gib:.1f} GiB free)"
    models = f"cached: {', '.join(have) or 'none'}"
    if missing:
        models += f"; missing: {', '.join(missing)}"
    if free_gib < MIN_FREE_DISK_GIB and missing:
        return Check(
            "model-cache",
            Status.WARN,
            f"{where}, less than {MIN_FREE_DISK_GIB:.0f} GiB free; {models}",
            "free disk space or point HF_HOME at a bigger disk before `live2diff-cam download all`",
        )
    if missing:
        return Check(
            "model-cache",
            Status.WARN,
            f"{where}; {models}",
            f"live2diff-cam download {' '.join(missing)} (or copy a Hugging Face cache "
            "into HF_HOME); without them only the tiny and sd15-random test models run",
        )
    return Check("model-cache", Status.OK, f"{where}; {models}")


# --- report --------------------------------------------------------------------------------


def run_checks() -> list[Check]:
    checks = [check_python()]
    checks += [check_package(*package) for package in PACKAGES]
    checks += check_conflicting_distributions()
    checks.append(check_torch_device())
    checks.append(check_onnxruntime())
    checks.append(check_virtual_camera())
    checks.append(check_screen_capture())
    checks.append(check_qt_platform())
    checks.append(check_model_cache())
    return checks


def exit_code(checks: Sequence[Check]) -> int:
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


def summary(checks: Sequence[Check]) -> str:
    failed = [check.name for check in checks if check.status is Status.FAIL]
    warned = [check.name for check in checks if check.status is Status.WARN]
    if failed:
        return (
            f"FAIL: {', '.join(failed)} (essential) -- fix the FAIL lines above; "
            f"{len(warned)} warning(s)"
        )
    if warned:
        return f"OK with {len(warned)} warning(s): {', '.join(warned)}"
    return "OK: ready to stream"


def format_report(checks: Sequence[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status.value:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    lines.append(summary(checks))
    return "\n".join(lines)


def report_json(checks: Sequence[Check]) -> str:
    return json.dumps(
        {
            "ok": exit_code(checks) == 0,
            "summary": summary(checks),
            "checks": [check.as_dict() for check in checks],
        },
        indent=2,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def main(args: argparse.Namespace) -> int:
    checks = run_checks()
    try:
        if not args.json:
            from live2diff_cam.app.settings import config_dir

            print(f"Config directory: {config_dir()} (settings.toml, presets.toml)")
        print(report_json(checks) if args.json else format_report(checks), flush=True)
    except BrokenPipeError:
        # `doctor | head`: the reader left; keep the exit code, skip the traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_code(checks)
