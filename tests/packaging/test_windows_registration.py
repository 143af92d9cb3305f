"""packaging/windows: the Unity Capture registration script cannot run here (no PowerShell, no
DirectShow), so what is checked is that its README reviews every line of it, and that the
script and the app agree on the device name and the registry key the app reads."""

from __future__ import annotations

from pathlib import Path

from live2diff_cam.app.sinks.vcam_backend import REGISTER_SCRIPT, UNITY_CLSID
from live2diff_cam.app.sinks.vcam_setup import CAMERA_LABEL

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / REGISTER_SCRIPT
README = ROOT / "packaging" / "windows" / "README.md"


def _code_lines() -> list[str]:
    """The script's lines after its comment-based help, less blank lines and comments."""
    text = SCRIPT.read_text("utf-8")
    body = text.split("#>", 1)[1]
    return [
        line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_readme_reviews_every_line_of_the_script():
    readme = README.read_text("utf-8").splitlines()
    missing = [line for line in _code_lines() if line not in readme]
    assert missing == []
    assert len(_code_lines()) > 40


def test_script_and_app_agree_on_name_and_registry_key():
    text = SCRIPT.read_text("utf-8")
    assert f'[string]$Name = "{CAMERA_LABEL}"' in text
    device_zero = UNITY_CLSID.format(0x10)
    assert f"HKEY_CLASSES_ROOT\\{device_zero}" in text
    assert "/i:UnityCaptureName=$Name" in text
    assert "zlib licence" in text and "Bernhard Schelling" in text
    assert "Invoke-WebRequest" not in text  # it downloads nothing
