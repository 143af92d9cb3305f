"""`live2diff-cam doctor`: check this machine and print one line per check with the fix.

Owns the list of checks, the model-cache/free-disk check, the report (text or JSON) and the exit
code. The other checks live beside it: `doctor_runtime` (Python and packages, torch's CUDA
device, onnxruntime's real provider), `doctor_vcam` (the virtual-camera backend per OS) and
`doctor_display` (screen capture, the Qt platform); `doctor_check` holds `Check` and `Status`.
Each check is a small function that returns a `Check`; every input it probes (module importer,
sysfs root, environment, registry reader) is a parameter, so a test drives it without the
hardware. A check never raises: a broken machine is what doctor exists to report.

It knows nothing about how the engine, sources or sinks use what it checks; it only asks the
same questions they will ask, and says what to do when the answer is no.

Exit code: 0 when the essentials hold, 1 when any check FAILs. Essentials (the only checks
that can FAIL): a supported Python, the declared packages import, and a CUDA device for torch,
since streaming at a usable speed needs an NVIDIA GPU (the CPU runs only the tiny test model).
Everything else (virtual camera, display, Qt platform, cache) is at worst a WARN: the app still
runs headless, previews or records without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from live2diff_cam.app.doctor_check import Check, Status, first_line
from live2diff_cam.app.doctor_display import check_qt_platform, check_screen_capture
from live2diff_cam.app.doctor_runtime import (
    PACKAGES,
    check_conflicting_distributions,
    check_onnxruntime,
    check_package,
    check_python,
    check_torch_device,
)
from live2diff_cam.app.doctor_vcam import check_camera_backend, check_virtual_camera

# SD1.5 fp16 (2.0 GB) + live2diff.ckpt (1.7 GB) + depth and small models, with room to spare.
MIN_FREE_DISK_GIB = 8.0


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
            f"could not inspect the model cache: {first_line(error)}",
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


def check_control_api() -> Check:
    """Where the control API's token lives (docs/OBS.md); the API itself is off by default."""
    from live2diff_cam.app.control.token import token_path

    path = token_path()
    state = "present" if path.is_file() else "written on the first start with --control-port"
    return Check(
        "control-api",
        Status.OK,
        f"off unless --control-port PORT or control_port in settings.toml; token file {path} "
        f"({state})",
    )


def run_checks() -> list[Check]:
    checks = [check_python()]
    checks += [check_package(*package) for package in PACKAGES]
    checks += check_conflicting_distributions()
    checks.append(check_torch_device())
    checks.append(check_onnxruntime())
    checks.append(check_virtual_camera())
    checks.append(check_camera_backend())
    checks.append(check_control_api())
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
