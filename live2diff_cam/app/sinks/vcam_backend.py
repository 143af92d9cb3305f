"""Which pyvirtualcam backend the virtual camera opens, on which device, under which name.

- Linux: `v4l2loopback`, on the device labelled "Live2Diff Camera" when there is one.
- Windows: `unitycapture` when the Unity Capture filter is registered under the name
  "Live2Diff Camera" (packaging/windows/register-live2diff-camera.ps1), so apps list the
  camera by our name and OBS keeps its own virtual camera; `obs` ("OBS Virtual Camera") is
  the fallback, also when opening Unity Capture fails.
- macOS: `obs`.

A backend named by the user (`vcam:unitycapture`, `vcam:backend=obs`) is the only one tried.
`choose_backend()` is pure: the OS, the registered backends and the Unity Capture names come
in as arguments, so every OS's choice is testable anywhere. It opens nothing.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from live2diff_cam.app.sinks.vcam_setup import CAMERA_LABEL, preferred_device
from live2diff_cam.errors import SinkError

UNITY_CAPTURE = "unitycapture"
KNOWN_BACKENDS = ("v4l2loopback", "obs", UNITY_CAPTURE)
REGISTER_SCRIPT = "packaging/windows/register-live2diff-camera.ps1"
OBS_CAMERA = "OBS Virtual Camera"
UNLABELLED = "the card_label of the first v4l2loopback device"  # none is labelled as ours
# Unity Capture device N is the default value of this key (64-bit filter: 0x10 + N, + 1 from
# N = 1 on: the filter reserves one id), as its registration writes it and pyvirtualcam reads it.
UNITY_CLSID = "CLSID\\{{5C2CD55C-92AD-4999-8666-912BD3E700{:02X}}}"
UNITY_MAX_DEVICES = 74


@dataclass(frozen=True)
class Candidate:
    """One way to open the camera: pyvirtualcam `backend` (None: any) and `device` (None: the
    backend's first), and the name apps will list it under."""

    backend: str | None
    device: str | None
    shown_as: str


@dataclass(frozen=True)
class BackendChoice:
    """Candidates in the order to try them, and one line saying why (for doctor / devices)."""

    candidates: tuple[Candidate, ...]
    reason: str

    @property
    def first(self) -> Candidate:
        return self.candidates[0]


def choose_backend(
    requested: str | None,
    device: str | None,
    *,
    system: str,
    available: Collection[str],
    unity_names: Sequence[str] = (),
    loopback_device: Callable[[], str | None] = lambda: None,
) -> BackendChoice:
    """The backends to try for `requested` / `device` (the user's, None = choose) on `system`
    ("Linux", "Windows", "Darwin"), given pyvirtualcam's registered backends (`available`)
    and the names Unity Capture devices are registered under. Raises `SinkError` for a
    backend this machine does not have."""
    if requested is not None:
        if requested not in available:
            raise SinkError(
                f'unknown virtual camera backend "{requested}"; use v4l2loopback (Linux), obs '
                "(Windows, macOS) or unitycapture (Windows), or leave it unset. Available here: "
                f"{', '.join(available) or 'none'}."
            )
        if requested == UNITY_CAPTURE and device is None and CAMERA_LABEL in unity_names:
            device = CAMERA_LABEL
        shown = _shown_as(requested, device, unity_names)
        if requested == "v4l2loopback" and device is None:
            device = loopback_device()
            shown = CAMERA_LABEL if device else UNLABELLED
        return BackendChoice((Candidate(requested, device, shown),), f"{requested} (as asked)")
    if system == "Linux":
        labelled = loopback_device()
        shown = CAMERA_LABEL if device is None and labelled else UNLABELLED
        return BackendChoice((Candidate(None, device or labelled, shown),), "v4l2loopback (Linux)")
    if system == "Windows" and UNITY_CAPTURE in available and CAMERA_LABEL in unity_names:
        ours = Candidate(UNITY_CAPTURE, device or CAMERA_LABEL, device or CAMERA_LABEL)
        fallback = (Candidate("obs", None, OBS_CAMERA),) if "obs" in available else ()
        return BackendChoice(
            (ours, *fallback), f'unitycapture: Unity Capture is registered as "{CAMERA_LABEL}"'
        )
    if "obs" in available:
        reason = "obs (OBS Virtual Camera)"
        if system == "Windows":
            reason += (
                f'; Unity Capture is not registered as "{CAMERA_LABEL}" ({REGISTER_SCRIPT} '
                "does it, so apps list the camera by our name and OBS keeps its own)"
            )
        return BackendChoice((Candidate("obs", device, OBS_CAMERA),), reason)
    return BackendChoice(
        (Candidate(None, device, device or "the first virtual camera"),),
        f"no preferred backend on {system}; pyvirtualcam tries {', '.join(available) or 'none'}",
    )


def _shown_as(backend: str, device: str | None, unity_names: Sequence[str]) -> str:
    if backend == "obs":
        return OBS_CAMERA
    if backend == UNITY_CAPTURE:
        return device or (unity_names[0] if unity_names else "Unity Video Capture")
    return device or UNLABELLED


def unity_capture_names(read_default: Callable[[str], str | None] | None = None) -> list[str]:
    """Names of the registered Unity Capture devices, in device order ([] off Windows)."""
    if read_default is None:
        if platform.system() != "Windows":
            return []
        read_default = _read_registry_default
    names = []
    for number in range(UNITY_MAX_DEVICES):
        name = read_default(UNITY_CLSID.format(0x10 + number + (1 if number else 0)))
        if name is None:
            break
        names.append(name.strip())
    return names


def _read_registry_default(key: str) -> str | None:
    import winreg  # type: ignore[import-not-found]  # Windows only

    try:
        return str(winreg.QueryValue(winreg.HKEY_CLASSES_ROOT, key))
    except OSError:
        return None


def backend_choice_here(requested: str | None = None, device: str | None = None) -> BackendChoice:
    """`choose_backend` for this machine: its OS, pyvirtualcam's registry, its Unity Capture."""
    from pyvirtualcam.camera import BACKENDS

    system = platform.system()
    return choose_backend(
        requested,
        device,
        system=system,
        available=list(BACKENDS),
        unity_names=unity_capture_names() if system == "Windows" else (),
        loopback_device=preferred_device if system == "Linux" else lambda: None,
    )


def describe_backend() -> str:
    """One line for `doctor` and `devices`: the backend, and the name apps list."""
    try:
        choice = backend_choice_here()
    except Exception as error:  # a broken pyvirtualcam must not break the report
        return f"no backend: {error}"
    first = choice.first
    shown = first.shown_as if first.shown_as == UNLABELLED else f'"{first.shown_as}"'
    line = f"backend {choice.reason}; apps list it as {shown}"
    if len(choice.candidates) > 1:
        line += f" (fallback: {', '.join(c.backend or 'any' for c in choice.candidates[1:])})"
    return line
