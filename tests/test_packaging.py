"""packaging/: PyInstaller spec, v4l2loopback setup script, desktop entry, icon, CI script."""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SETUP = PACKAGING / "linux" / "setup-v4l2loopback.sh"
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("bash") is None, reason="bash on Linux"
)


def _calls(tree: ast.AST) -> dict[str, ast.Call]:
    return {
        node.func.id: node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def _keyword(call: ast.Call, name: str) -> ast.expr:
    return next(k.value for k in call.keywords if k.arg == name)


def test_spec_builds_one_folder_app_from_the_launcher():
    tree = ast.parse((PACKAGING / "live2diff-cam.spec").read_text())
    calls = _calls(tree)
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= set(calls)
    script = ast.unparse(calls["Analysis"].args[0])
    assert "'launcher.py'" in script
    # One folder: EXE leaves binaries to COLLECT.
    assert ast.literal_eval(_keyword(calls["EXE"], "exclude_binaries")) is True
    assert ast.unparse(_keyword(calls["EXE"], "name")) == "APP"
    assert ast.unparse(_keyword(calls["Analysis"], "hiddenimports")) == "hiddenimports"
    assert "collect_submodules('live2diff_cam')" in ast.unparse(tree)
    assert "APP = 'live2diff-cam'" in ast.unparse(tree)


def test_launcher_runs_the_cli_main():
    tree = ast.parse((PACKAGING / "launcher.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert any(n.module == "live2diff_cam.cli" and n.names[0].name == "main" for n in imports)
    assert "sys.exit(main())" in ast.unparse(tree)


def _setup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SETUP), *args], capture_output=True, text=True, timeout=30)


@linux_only
def test_setup_script_writes_persistent_config_idempotently_and_uninstalls(tmp_path):
    modprobe = tmp_path / "etc" / "modprobe.d" / "live2diff-cam.conf"
    modules_load = tmp_path / "etc" / "modules-load.d" / "live2diff-cam.conf"

    first = _setup("--root", str(tmp_path), "--no-load")
    assert first.returncode == 0, first.stderr
    assert f"wrote {modprobe}" in first.stdout
    options = modprobe.read_text().splitlines()[-1]
    assert options == (
        'options v4l2loopback devices=1 card_label="Live2Diff Camera" exclusive_caps=1'
    )
    assert modules_load.read_text().splitlines()[-1] == "v4l2loopback"

    again = _setup("--root", str(tmp_path), "--no-load")
    assert again.returncode == 0 and f"unchanged: {modprobe}" in again.stdout

    zoom = _setup("--root", str(tmp_path), "--no-load", "--exclusive-caps", "0", "--video-nr", "10")
    assert zoom.returncode == 0
    assert modprobe.read_text().splitlines()[-1].endswith("exclusive_caps=0 video_nr=10")

    removed = _setup("--root", str(tmp_path), "--uninstall", "--no-load")
    assert removed.returncode == 0
    assert not modprobe.exists() and not modules_load.exists()


@linux_only
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--bogus",), "unknown option --bogus"),
        (("--exclusive-caps", "2"), "--exclusive-caps must be 0 or 1"),
        (("--video-nr", "x"), "--video-nr must be a number"),
    ],
)
def test_setup_script_bad_input_is_one_line(args, needle, tmp_path):
    result = _setup("--root", str(tmp_path), *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"setup-v4l2loopback: error: {needle}")


@linux_only
def test_setup_script_needs_root_without_root_prefix():
    if os.geteuid() == 0:
        pytest.skip("running as root")
    result = _setup("--no-load")
    assert result.returncode == 1 and "run as root" in result.stderr


def test_desktop_entry():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive in desktop files
    entry.read(PACKAGING / "linux" / "live2diff-cam.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == "Live2Diff Camera"
    assert section["Exec"] == "live2diff-cam"
    assert section["Icon"] == "live2diff-cam"
    assert section["Categories"].endswith(";")
    validate = shutil.which("desktop-file-validate")
    if validate:
        result = subprocess.run([validate, str(PACKAGING / "linux" / "live2diff-cam.desktop")])
        assert result.returncode == 0


def test_icon_svg_and_its_256px_png():
    svg = ElementTree.parse(PACKAGING / "linux" / "live2diff-cam.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    data = (PACKAGING / "linux" / "live2diff-cam.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (256, 256)


@pytest.mark.gui
def test_png_is_rendered_from_the_current_svg(tmp_path, qapp):
    # qapp first: render_icon would otherwise create a QGuiApplication, and the widget tests
    # that run later in the same process need a QApplication.
    pytest.importorskip("PySide6.QtSvg")
    from PySide6.QtGui import QImage

    sys.path.insert(0, str(PACKAGING / "linux"))
    try:
        import render_icon
    finally:
        sys.path.pop(0)
    fresh = render_icon.render(png=tmp_path / "icon.png")
    committed = QImage(str(PACKAGING / "linux" / "live2diff-cam.png"))
    assert QImage(str(fresh)) == committed, "re-run packaging/linux/render_icon.py"


def test_os_notes_name_the_camera_apps_show():
    for system in ("windows", "macos"):
        text = (PACKAGING / system / "README.md").read_text()
        assert "OBS Virtual Camera" in text and "Start Virtual Camera" in text
    assert (
        "{A3FCE0F5-3493-419F-958A-ABA1250EC20B}"
        in (PACKAGING / "windows" / "README.md").read_text()
    )


def test_ci_script_installs_pinned_torch_before_the_project():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert "set -euo pipefail" in text
    pinned = text.index('pip install -q "torch==2.13.0"')
    project = text.index("pip install -q -e '.[test]'")
    assert pinned < project
    assert "pip install torch\n" not in text and 'pip install -q "torch"' not in text
    for step in (
        "ruff check .",
        "ruff format --check .",
        "lint-imports",
        "QT_QPA_PLATFORM=offscreen",
    ):
        assert step in text
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


@pytest.mark.slow
def test_pyinstaller_bundle_runs_doctor(tmp_path):
    """Builds the one-folder app (minutes, GBs of disk) and runs `doctor --json` from it."""
    pytest.importorskip("PyInstaller")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--distpath",
            str(tmp_path / "dist"),
            "--workpath",
            str(tmp_path / "build"),
            str(PACKAGING / "live2diff-cam.spec"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    exe = tmp_path / "dist" / "live2diff-cam" / "live2diff-cam"
    result = subprocess.run(
        [str(exe), "doctor", "--json"], capture_output=True, text=True, timeout=300
    )
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["ok"] else 1)
    assert any(c["name"] == "torch" and c["status"] == "OK" for c in report["checks"])
