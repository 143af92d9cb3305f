"""Style presets as data: which model, optional LoRA, prompt template, default strength.

The built-in presets live in `presets.toml` next to this module (package data); a user's own
presets may sit in a `presets.toml` in the user config dir and override built-ins by name.
This module knows nothing about loading models or running them: it only reads and validates.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from live2diff_cam.errors import Live2DiffError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PROMPT_PLACEHOLDER = "{prompt}"


class PresetError(Live2DiffError):
    """A preset file or entry is malformed, or a preset name is unknown."""


@dataclass(frozen=True)
class Preset:
    """One style. `prompt_template` contains `{prompt}` where the user's subject goes.

    `model`: "tiny" | "sd15-random" | hub id | diffusers folder | single-file checkpoint.
    `lora`: hub id or path of a LoRA (optional), applied with `lora_scale`.
    `strength`: default denoising strength in [0, 1] (0 = the input, 1 = the style).
    """

    name: str
    model: str
    prompt_template: str = PROMPT_PLACEHOLDER
    negative_prompt: str = ""
    strength: float = 0.5
    lora: str | None = None
    lora_scale: float = 1.0
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise PresetError("A preset needs a non-empty `name`.")
        if not self.model.strip():
            raise PresetError(f"Preset '{self.name}' needs a `model` (hub id, folder or file).")
        if PROMPT_PLACEHOLDER not in self.prompt_template:
            raise PresetError(
                f"Preset '{self.name}': prompt_template must contain {PROMPT_PLACEHOLDER} "
                f"where the subject goes, got {self.prompt_template!r}."
            )
        if not 0.0 <= self.strength <= 1.0:
            raise PresetError(
                f"Preset '{self.name}': strength must be in [0, 1], got {self.strength}."
            )
        if self.lora_scale < 0:
            raise PresetError(
                f"Preset '{self.name}': lora_scale must be >= 0, got {self.lora_scale}."
            )

    def render(self, prompt: str) -> str:
        """The full prompt: the template with `prompt` (the subject) filled in."""
        subject = prompt.strip() or "a person"
        return self.prompt_template.replace(PROMPT_PLACEHOLDER, subject)

    @property
    def loras(self) -> tuple[tuple[str, float], ...]:
        """`(path or hub id, scale)` pairs, as the model loader takes them."""
        return () if self.lora is None else ((self.lora, self.lora_scale),)


_FIELDS = {
    "name",
    "model",
    "prompt_template",
    "negative_prompt",
    "strength",
    "lora",
    "lora_scale",
    "description",
}


def parse_presets(text: str, origin: str = "<presets>") -> dict[str, Preset]:
    """Presets from TOML text: an array of `[[preset]]` tables. Keeps file order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PresetError(f"{origin} is not valid TOML ({error}); fix or delete it.") from None
    entries = data.get("preset", [])
    if not isinstance(entries, list):
        raise PresetError(f"{origin}: presets must be `[[preset]]` tables.")
    presets: dict[str, Preset] = {}
    for number, entry in enumerate(entries, 1):
        unknown = sorted(set(entry) - _FIELDS)
        if unknown:
            raise PresetError(
                f"{origin}: preset #{number} has unknown keys {unknown}; "
                f"allowed: {sorted(_FIELDS)}."
            )
        try:
            preset = Preset(**entry)
        except TypeError as error:
            raise PresetError(f"{origin}: preset #{number}: {error}.") from None
        if preset.name in presets:
            raise PresetError(f"{origin}: two presets are named '{preset.name}'.")
        presets[preset.name] = preset
    return presets


def builtin_presets() -> dict[str, Preset]:
    """The presets shipped with the package (presets.toml)."""
    text = resources.files("live2diff_cam.app").joinpath("presets.toml").read_text("utf-8")
    return parse_presets(text, "built-in presets.toml")


def load_presets(user_file: Path | None = None) -> dict[str, Preset]:
    """Built-in presets, then the user's (same name: the user's wins)."""
    presets = builtin_presets()
    if user_file is not None and user_file.is_file():
        presets.update(parse_presets(user_file.read_text("utf-8"), str(user_file)))
    return presets


def get_preset(name: str, presets: dict[str, Preset] | None = None) -> Preset:
    """The preset called `name`, or a `PresetError` listing the known names."""
    presets = builtin_presets() if presets is None else presets
    try:
        return presets[name]
    except KeyError:
        known = ", ".join(presets) or "none"
        raise PresetError(f"Unknown preset '{name}'. Known presets: {known}.") from None
