"""User settings: a TOML file in the user config dir that remembers the last session.

Owns the file's location (platformdirs), its format and its validation. Remembers the last
preset, source, strength, depth scale, seed, prompt, mode, the control API's port (0 = off)
and the window geometry (the UI stores Qt's `saveGeometry()` bytes as base64 text through
`Settings.with_changes`). A missing file gives the defaults; a damaged one raises
`SettingsError` naming the file and the fix. This module knows nothing about Qt, the engine
or devices.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import tomli_w

from live2diff_cam.errors import Live2DiffError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

APP_NAME = "live2diff-cam"
SETTINGS_FILE = "settings.toml"
MODES = ("stylized", "bypass", "freeze", "privacy")


class SettingsError(Live2DiffError):
    """The settings file is damaged or holds a bad value."""


def config_dir() -> Path:
    """The user config dir (`LIVE2DIFF_CAM_CONFIG_DIR` overrides it, e.g. for tests)."""
    override = os.environ.get("LIVE2DIFF_CAM_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def user_presets_path() -> Path:
    """Where a user's own presets.toml lives (see `presets.load_presets`)."""
    return config_dir() / "presets.toml"


@dataclass(frozen=True)
class Settings:
    """What the app remembers between runs. `window_geometry`: base64 text, "" = none."""

    preset: str = "Photo"
    source: str = "camera:0"
    prompt: str = ""
    strength: float = 0.5
    depth_scale: float = 1.0
    seed: int = 0
    mode: str = "stylized"
    sinks: tuple[str, ...] = ("vcam",)
    window_geometry: str = ""
    control_port: int = 0  # the local control API (docs/OBS.md); 0 = off

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise SettingsError(f"strength must be in [0, 1], got {self.strength}.")
        if self.depth_scale < 0:
            raise SettingsError(f"depth_scale must be >= 0, got {self.depth_scale}.")
        if not 0 <= self.seed < 2**63:
            raise SettingsError(f"seed must be in [0, 2**63), got {self.seed}.")
        if self.mode not in MODES:
            raise SettingsError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}.")
        if not 0 <= self.control_port <= 65535:
            raise SettingsError(f"control_port must be in 0..65535, got {self.control_port}.")

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


_TYPES = {f.name: f.type for f in fields(Settings)}


def load_settings(path: Path | None = None) -> Settings:
    """Settings from `path` (default: the user's file); defaults where it is missing."""
    path = settings_path() if path is None else path
    if not path.is_file():
        return Settings()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(
            f"{path} is not valid TOML ({error}). Fix it, or delete it to start from defaults."
        ) from None
    # Unknown keys are ignored: a newer version may have written them.
    known = {key: value for key, value in data.items() if key in _TYPES}
    if "sinks" in known:
        known["sinks"] = tuple(known["sinks"])
    try:
        return Settings(**known)
    except SettingsError as error:
        raise SettingsError(f"{path}: {error} Fix it, or delete the file.") from None
    except TypeError as error:
        raise SettingsError(f"{path}: {error}. Fix it, or delete the file.") from None


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write `settings` atomically (a crash never leaves half a file); return the path."""
    path = settings_path() if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(settings)
    data["sinks"] = list(settings.sinks)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(tomli_w.dumps(data).encode("utf-8"))
    os.replace(temporary, path)
    return path
