"""User settings: a TOML file in the user config dir that remembers the last session.

Owns the file's location (platformdirs), its format and its validation. Remembers the last
preset, source, strength, depth scale, seed, prompt, mode, the control API's port (0 = off),
the window's model choices and the window geometry (the UI stores Qt's `saveGeometry()` bytes as
base64 text through `Settings.with_changes`). `Settings` is the one schema: pydantic checks the
field types (strict: `sinks = 5` is not a list of outputs), `Settings.__post_init__` the ranges.
A missing file gives the defaults; a damaged one (not UTF-8, not TOML, a bad field) is moved
aside to `settings.toml.bad-<time>`, so the next save cannot overwrite what the user may want
back, and `SettingsError` says so, naming the line and the field; the app then starts on
defaults. This module knows nothing about Qt, the engine or devices.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import tomli_w
from pydantic import (
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    with_config,
)

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


# Unknown keys are ignored: a newer version may have written them.
@with_config(ConfigDict(extra="ignore"))
@dataclass(frozen=True)
class Settings:
    """What the app remembers between runs. `window_geometry`: base64 text, "" = none."""

    preset: StrictStr = "Photo"
    source: StrictStr = "camera:0"
    prompt: StrictStr = ""
    strength: StrictFloat = 0.5
    depth_scale: StrictFloat = 1.0
    seed: StrictInt = 0
    mode: StrictStr = "stylized"
    sinks: tuple[StrictStr, ...] = ("vcam",)
    window_geometry: StrictStr = ""
    control_port: StrictInt = 0  # the local control API (docs/OBS.md); 0 = off
    # The window's model choice ("" = the preset's model / the model's own autoencoder),
    # whether the user got past the set-up page, and whether the tray icon always shows.
    model: StrictStr = ""
    lora: StrictStr = ""
    vae: StrictStr = "taesd"  # "taesd" (fast) or "" (the model's own)
    resolution: StrictStr = "512x512"
    steps: StrictInt = 2
    optimize_for_speed: StrictBool = True  # compile the engine where there is a CUDA GPU
    setup_done: StrictBool = False
    tray_always: StrictBool = False

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
        width, _, height = self.resolution.partition("x")
        if not (width.isdigit() and height.isdigit()):
            raise SettingsError(f"resolution must look like 512x512, got {self.resolution!r}.")
        if not 1 <= self.steps <= 8:
            raise SettingsError(f"steps must be in [1, 8], got {self.steps}.")

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


_SCHEMA = TypeAdapter(Settings)


def _line_of(text: str, field: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(field)}\s*=", line):
            return number
    return None


def _problem(text: str, error: ValidationError | SettingsError) -> str:
    """Where and what: 'line 3, field `sinks`: Input should be a valid tuple, got 5'."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        what = f"{first['msg']}, got {first.get('input')!r}"
    else:  # a range, from Settings.__post_init__: its message starts with the field
        field = str(error).split(" ", 1)[0]
        what = str(error).rstrip(".")
    line = _line_of(text, field)
    return f"{'' if line is None else f'line {line}, '}field `{field}`: {what}"


def _move_aside(path: Path) -> Path:
    """Rename a damaged settings file to `<name>.bad-<time>` and return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.bad-{stamp}")
    number = 1
    while aside.exists():  # two bad files in one second: keep both
        aside = path.with_name(f"{path.name}.bad-{stamp}-{number}")
        number += 1
    os.replace(path, aside)
    return aside


def load_settings(path: Path | None = None) -> Settings:
    """Settings from `path` (default: the user's file); defaults where it is missing.

    A damaged file is moved aside and `SettingsError` says where to and why; the caller
    starts on `Settings()`.
    """
    path = settings_path() if path is None else path
    if not path.is_file():
        return Settings()
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        problem = f"line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x})"
    else:
        try:
            data = tomllib.loads(text)
            return _SCHEMA.validate_python(data)
        except tomllib.TOMLDecodeError as error:
            problem = f"not valid TOML ({error})"
        except (ValidationError, SettingsError) as error:
            problem = _problem(text, error)
    aside = _move_aside(path)
    raise SettingsError(
        f"{path}: {problem}. It was moved to {aside.name}; starting from the defaults."
    )


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
