"""`live2diff-cam devices`: list what can be captured and where the output can go.

Cameras (Linux: names from sysfs, nothing opened; elsewhere indexes 0..9 probed and released at
once), monitors (mss), windows that `window:TITLE` can follow, and the virtual camera's status.
Each section reports its own problem instead of failing the command: a machine without a
camera, display or v4l2loopback still gets a full answer. It only lists; it streams nothing.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from live2diff_cam.app.sinks.vcam_backend import describe_backend
from live2diff_cam.app.sinks.vcam_setup import virtual_camera_status
from live2diff_cam.app.sources.camera import list_cameras
from live2diff_cam.app.sources.screen import list_monitors
from live2diff_cam.app.sources.windows import list_windows
from live2diff_cam.errors import Live2DiffError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--max-cameras",
        type=int,
        default=10,
        metavar="N",
        help="camera indexes to probe where names are not available (default 10)",
    )


def _section(fetch: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Run one lister; its items as dicts, or the reason it could not list."""
    try:
        return [asdict(item) for item in fetch()], None
    except Live2DiffError as error:
        return [], str(error)
    except Exception as error:  # a broken driver must not hide the other sections
        return [], f"{type(error).__name__}: {error}"


def collect(max_cameras: int = 10) -> dict[str, Any]:
    """Everything `devices` reports, as plain data (what `--json` prints)."""
    cameras, cameras_problem = _section(lambda: list_cameras(max_cameras))
    monitors, monitors_problem = _section(list_monitors)
    windows, windows_problem = _section(list_windows)
    ok, detail, fix = virtual_camera_status()
    backend = describe_backend()
    return {
        "cameras": cameras,
        "monitors": monitors,
        "windows": windows,
        "virtual_camera": {"ok": ok, "detail": detail, "fix": fix, "backend": backend},
        "problems": {
            k: v
            for k, v in (
                ("cameras", cameras_problem),
                ("monitors", monitors_problem),
                ("windows", windows_problem),
            )
            if v
        },
    }


def format_report(report: dict[str, Any]) -> str:
    """The human-readable listing, with the spec to use for each entry."""
    lines = ["Cameras (use camera:N):"]
    problems = report["problems"]
    for cam in report["cameras"]:
        note = "  [virtual: an output, not a camera]" if cam["virtual"] else ""
        lines.append(f'  camera:{cam["index"]}  "{cam["name"]}"  {cam["path"]}{note}')
    if not report["cameras"]:
        lines.append(f"  none found{': ' + problems['cameras'] if 'cameras' in problems else ''}")
    lines.append("Monitors (use screen:N, or screen:X,Y,W,H for a region):")
    for mon in report["monitors"]:
        lines.append(
            f"  screen:{mon['index']}  {mon['width']}x{mon['height']} at {mon['left']},{mon['top']}"
        )
    if not report["monitors"]:
        lines.append(f"  none: {problems.get('monitors', 'no monitor reported')}")
    lines.append('Windows (use window:"TITLE"):')
    for win in report["windows"]:
        lines.append(
            f'  window:"{win["title"]}"  {win["width"]}x{win["height"]} at {win["left"]},'
            f"{win['top']}"
        )
    if not report["windows"]:
        lines.append(f"  none: {problems.get('windows', 'no titled window is open')}")
    vcam = report["virtual_camera"]
    lines.append(f"Virtual camera: {'ready' if vcam['ok'] else 'NOT READY'}: {vcam['detail']}")
    lines.append(f"  {vcam['backend']}")
    if vcam["fix"]:
        lines.append(f"  fix: {vcam['fix']}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    report = collect(args.max_cameras)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0
