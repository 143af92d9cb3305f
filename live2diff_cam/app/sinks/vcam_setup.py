"""What the virtual-camera backend on this machine is, whether it is ready, and how to fix it.

Owns the OS knowledge: Linux uses the v4l2loopback kernel module (found through sysfs; its
`card_label` is the name apps show, so we ask for "Live2Diff Camera"), Windows and macOS use the
OBS virtual camera that OBS Studio installs (apps show "OBS Virtual Camera"; Windows can also use
Unity Capture, "Unity Video Capture"). Turns pyvirtualcam's errors into messages with the exact
fix. Used by the virtual camera sink, `devices` and `doctor`; it sends no frames.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from live2diff_cam.errors import SinkError

CAMERA_LABEL = "Live2Diff Camera"
MODPROBE_FIX = f'sudo modprobe v4l2loopback devices=1 card_label="{CAMERA_LABEL}" exclusive_caps=1'
SETUP_SCRIPT = "packaging/linux/setup-v4l2loopback.sh"
EXCLUSIVE_CAPS_NOTE = (
    "About exclusive_caps=1: Chrome and WebRTC apps (Meet, Teams and Zoom in a browser) list the "
    "camera only with it; some Zoom desktop versions do not list it with it. To switch, reload "
    "the module: `sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback devices=1 "
    f'card_label="{CAMERA_LABEL}" exclusive_caps=0` (or 1 to switch back).'
)
# Names apps show for the camera on each OS; Linux shows the v4l2loopback card_label.
SHOWN_AS = {
    "Linux": CAMERA_LABEL,
    "Windows": f"{CAMERA_LABEL} (Unity Capture registered by packaging/windows), else OBS "
    "Virtual Camera",
    "Darwin": "OBS Virtual Camera",
}


@dataclass(frozen=True)
class LoopbackDevice:
    """A v4l2loopback output device: `/dev/videoN` and its card_label (the name apps show)."""

    path: str
    label: str


def find_loopback_devices(sys_root: Path = Path("/sys")) -> list[LoopbackDevice]:
    """v4l2loopback devices, from /sys/devices/virtual/video4linux/video*/name (Linux only; an
    empty list elsewhere). Real cameras live under their USB/PCI path, not under virtual/."""
    folder = sys_root / "devices" / "virtual" / "video4linux"
    devices = []
    nodes = [n for n in folder.glob("video*") if n.name[5:].isdigit()] if folder.is_dir() else []
    for node in sorted(nodes, key=lambda n: int(n.name[5:])):
        try:
            label = (node / "name").read_text().strip()
        except OSError:
            continue
        devices.append(LoopbackDevice(f"/dev/{node.name}", label))
    return devices


def preferred_device(sys_root: Path = Path("/sys")) -> str | None:
    """The loopback device labelled "Live2Diff Camera", if there is one (Linux)."""
    for device in find_loopback_devices(sys_root):
        if device.label == CAMERA_LABEL:
            return device.path
    return None


def _linux_fix() -> str:
    return (
        f"{MODPROBE_FIX} (or run {SETUP_SCRIPT}, which also loads it at every boot; if modprobe "
        "says the module is not found, install it first: `sudo apt install v4l2loopback-dkms`). "
        + EXCLUSIVE_CAPS_NOTE
    )


def _linux_status(sys_root: Path) -> tuple[bool, str, str]:
    if not (sys_root / "module" / "v4l2loopback").exists():
        return False, "the v4l2loopback kernel module is not loaded", _linux_fix()
    devices = find_loopback_devices(sys_root)
    if not devices:
        return (
            False,
            "v4l2loopback is loaded but has no devices",
            f"sudo modprobe -r v4l2loopback && {MODPROBE_FIX}",
        )
    listed = ", ".join(f'{d.path} "{d.label}"' for d in devices)
    blocked = [d.path for d in devices if Path(d.path).exists() and not os.access(d.path, os.W_OK)]
    if blocked:
        return (
            False,
            f"v4l2loopback devices {listed}; no write permission on {', '.join(blocked)}",
            "sudo usermod -aG video $USER, then log out and in again",
        )
    if not any(d.label == CAMERA_LABEL for d in devices):
        return (
            True,
            f"v4l2loopback devices {listed}; apps will show the first one under its label, "
            f'not "{CAMERA_LABEL}"',
            f"to show it as {CAMERA_LABEL}: sudo modprobe -r v4l2loopback && {MODPROBE_FIX}",
        )
    return True, f"v4l2loopback devices {listed}", ""


def _other_os_fix(system: str) -> str:
    if system == "Darwin":
        return (
            "install OBS Studio 30 or newer, click 'Start Virtual Camera' once and allow its "
            "system extension (System Settings > Privacy & Security), then restart this app"
        )
    return (
        f'register Unity Capture as "{CAMERA_LABEL}" with '
        "packaging/windows/register-live2diff-camera.ps1 (packaging/windows/README.md), or "
        "install OBS Studio 26 or newer (it installs 'OBS Virtual Camera'; OBS need not run)"
    )


def virtual_camera_status(probe: bool = False) -> tuple[bool, str, str]:
    """Is a virtual camera usable here? Returns `(ok, detail, fix)`.

    `ok`: True when a device is ready (on Windows/macOS without `probe`: a backend is
    installed in pyvirtualcam, not proven to open). `detail`: one line for the user saying what
    was found. `fix`: the exact command or step to make it work (or to get the "Live2Diff Camera"
    name); empty when nothing is to be done. `probe=True` also opens the camera at 640x480 for
    an instant (fails if another program is sending to it). Never raises; for `doctor`/`devices`.
    """
    system = platform.system()
    if system == "Linux":
        ok, detail, fix = _linux_status(Path("/sys"))
    else:
        try:
            from pyvirtualcam.camera import BACKENDS
        except Exception as error:  # a broken native backend must not crash `doctor`
            return False, f"pyvirtualcam failed to load: {error}", "pip install -U pyvirtualcam"
        names = ", ".join(BACKENDS) or "none"
        ok = bool(BACKENDS)
        detail = f"pyvirtualcam backends: {names}; apps show the camera as {SHOWN_AS.get(system)}"
        fix = "" if ok else _other_os_fix(system)
    if ok and probe:
        try:
            import pyvirtualcam

            device = preferred_device() if system == "Linux" else None
            with pyvirtualcam.Camera(640, 480, 30, device=device) as cam:
                detail += f"; opened {cam.device} ({cam.backend})"
        except Exception as error:
            mapped = open_error(error, device=None, backend=None)
            return False, f"{detail}; opening it failed: {error}", str(mapped)
    return ok, detail, fix


def open_error(error: Exception, *, device: str | None, backend: str | None) -> SinkError:
    """The SinkError a user sees when pyvirtualcam cannot open the camera: what and the fix."""
    text = str(error)
    lowered = text.lower()
    system = platform.system()
    module_missing = system == "Linux" and not Path("/sys/module/v4l2loopback").exists()
    if "no v4l2 loopback device" in lowered or (module_missing and not device):
        return SinkError(
            "no virtual camera: the v4l2loopback kernel module is not loaded. Fix: " + _linux_fix()
        )
    if device and "does not exist" in lowered:
        return SinkError(
            f"virtual camera device {device} does not exist. Leave the device unset, or pick a "
            "v4l2loopback device listed by `live2diff-cam devices`."
            + (f" The v4l2loopback module is not loaded: {MODPROBE_FIX}" if module_missing else "")
        )
    if "busy" in lowered or "in use" in lowered:
        return SinkError(
            f"the virtual camera is in use by another program ({text}). Close the other "
            "program sending to it (OBS, another live2diff-cam), or load a second device: "
            "sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback devices=2 "
            f'card_label="{CAMERA_LABEL}","{CAMERA_LABEL} 2" exclusive_caps=1'
        )
    if system == "Linux":
        return SinkError(
            f"could not open the virtual camera ({backend or 'v4l2loopback'}): {text}. "
            f"Check it with `live2diff-cam doctor`; reloading the module usually helps: "
            f"sudo modprobe -r v4l2loopback && {MODPROBE_FIX}"
        )
    return SinkError(
        f"could not open the virtual camera ({backend or 'any backend'}): {text.rstrip('.')}. "
        "Fix: " + _other_os_fix(system)
    )
