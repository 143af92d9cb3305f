"""Doctor's virtual-camera check, per OS: on Linux it asks the sinks part
(`sinks.vcam_setup.virtual_camera_status`, the v4l2loopback sysfs probe); on Windows and macOS
it looks for the OBS Virtual Camera install itself (registry key, system extension), which
pyvirtualcam's backend list cannot tell. Registry reader, paths and OS are parameters for tests.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from live2diff_cam.app.doctor_check import Check, Status, first_line

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
    if sys.platform != "win32":  # also tells the type checker where winreg exists
        raise OSError("the Windows registry exists only on Windows")
    import winreg

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


def _unity_capture_names() -> list[str]:
    from live2diff_cam.app.sinks.vcam_backend import unity_capture_names

    return unity_capture_names()


def check_virtual_camera_windows(
    registry_has: Callable[[str], bool] = _windows_registry_has,
    environ: Mapping[str, str] = os.environ,
    unity_names: Callable[[], list[str]] = _unity_capture_names,
) -> Check:
    if "Live2Diff Camera" in unity_names():  # packaging/windows registers it under our name
        return Check(
            "virtual-camera",
            Status.OK,
            "Unity Capture is registered as 'Live2Diff Camera' (backend unitycapture); apps "
            "list it by that name and OBS keeps its own virtual camera",
        )
    try:
        registered = registry_has(OBS_VCAM_CLSID)
    except Exception as error:
        registered = False
        reason = f" (registry read failed: {first_line(error)})"
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
            f"could not probe the virtual camera: {first_line(error)}",
            "run with --debug and report it",
        )
    return Check(
        "virtual-camera",
        Status.WARN,
        f"no virtual-camera backend for {system}",
        "use Linux (v4l2loopback), Windows or macOS (OBS Virtual Camera)",
    )


def check_camera_backend() -> Check:
    """Which pyvirtualcam backend the app opens here, and the name apps list it under."""
    from live2diff_cam.app.sinks.vcam_backend import describe_backend

    return Check("camera-backend", Status.OK, describe_backend())
