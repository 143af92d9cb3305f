"""Style presets as data: which model, optional LoRA, prompt template, default strength.

The built-in presets live in `presets.toml` next to this module (package data); a user's own
presets may sit in a `presets.toml` in the user config dir and override built-ins by name.
`Preset` is the one schema of an entry: pydantic checks the field types (strict: `model = 42`
is not a model name) and unknown keys, `Preset.__post_init__` the ranges. In a user's file a
bad entry is skipped with a message naming the file, its line and the field, so one typo never
keeps the app from starting. This module knows nothing about loading models or running them.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import ConfigDict, StrictFloat, StrictStr, TypeAdapter, ValidationError, with_config

from live2diff_cam.errors import Live2DiffError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

log = logging.getLogger(__name__)

PROMPT_PLACEHOLDER = "{prompt}"


class PresetError(Live2DiffError):
    """A preset file or entry is malformed, or a preset name is unknown."""


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class Preset:
    """One style. `prompt_template` contains `{prompt}` where the user's subject goes.

    `model`: "tiny" | "sd15-random" | hub id | diffusers folder | single-file checkpoint.
    `lora`: hub id or path of a LoRA (optional), applied with `lora_scale`.
    `strength`: default denoising strength in [0, 1] (0 = the input, 1 = the style).
    """

    # Strict types: a file's `model = 42` is an error, not the model "42".
    name: StrictStr
    model: StrictStr
    prompt_template: StrictStr = PROMPT_PLACEHOLDER
    negative_prompt: StrictStr = ""
    strength: StrictFloat = 0.5
    lora: StrictStr | None = None
    lora_scale: StrictFloat = 1.0
    description: StrictStr = ""

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


_SCHEMA = TypeAdapter(Preset)


def _entry_lines(text: str) -> list[int]:
    """The line number of each `[[preset]]` header, in order."""
    return [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if re.match(r"\s*\[\[\s*preset\s*\]\]", line)
    ]


def _field_line(text: str, start: int, field: str) -> int:
    """The line of `field = ...` in the entry whose header is on line `start` (or `start`)."""
    lines = text.splitlines()
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        if line.lstrip().startswith("["):
            break
        if re.match(rf"\s*{re.escape(field)}\s*=", line):
            return number
    return start


def _entry_problem(error: ValidationError) -> tuple[str, str]:
    """(field, what is wrong) of the first problem pydantic found."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "preset"
    if first["type"] == "unexpected_keyword_argument":
        return field, f"unknown key; allowed: {', '.join(_SCHEMA_FIELDS)}"
    if first["type"] == "missing":
        return field, "missing (every preset needs a name and a model)"
    return field, f"{first['msg']}, got {first.get('input')!r}"


_SCHEMA_FIELDS = tuple(Preset.__dataclass_fields__)


def parse_presets(
    text: str, origin: str = "<presets>", problems: list[str] | None = None
) -> dict[str, Preset]:
    """Presets from TOML text: an array of `[[preset]]` tables. Keeps file order.

    With `problems` (a user's file), a bad entry is skipped and a message naming `origin`, the
    line and the field is added; without it (the built-in file), the first one raises.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PresetError(f"{origin} is not valid TOML ({error}); fix or delete it.") from None
    entries = data.get("preset", [])
    if not isinstance(entries, list):
        raise PresetError(f"{origin}: presets must be `[[preset]]` tables.")
    headers = _entry_lines(text)
    presets: dict[str, Preset] = {}
    for number, entry in enumerate(entries, 1):
        start = headers[number - 1] if number <= len(headers) else 1
        try:
            try:
                preset = _SCHEMA.validate_python(entry)
            except ValidationError as error:
                field, what = _entry_problem(error)
                line = _field_line(text, start, field)
                raise PresetError(
                    f"{origin}, line {line}: preset #{number}, field `{field}`: {what}."
                ) from None
            except PresetError as error:  # a range, from Preset.__post_init__
                field = next(f for f in (*_SCHEMA_FIELDS, "preset") if f in str(error))
                line = _field_line(text, start, field)
                raise PresetError(
                    f"{origin}, line {line}: preset #{number}, field `{field}`: {error}"
                ) from None
            if preset.name in presets:
                raise PresetError(f"{origin}, line {start}: two presets are named '{preset.name}'.")
        except PresetError as error:
            if problems is None:
                raise
            problems.append(f"{error} This preset was skipped.")
            log.warning("%s This preset was skipped.", error)
            continue
        presets[preset.name] = preset
    return presets


def builtin_presets() -> dict[str, Preset]:
    """The presets shipped with the package (presets.toml)."""
    text = resources.files("live2diff_cam.app").joinpath("presets.toml").read_text("utf-8")
    return parse_presets(text, "built-in presets.toml")


def load_presets(
    user_file: Path | None = None, problems: list[str] | None = None
) -> dict[str, Preset]:
    """Built-in presets, then the user's (same name: the user's wins).

    Nothing in the user's file stops the app: a file that is not UTF-8 or not TOML is ignored
    and a bad entry skipped, each with a message in `problems` (and the log).
    """
    presets = builtin_presets()
    if user_file is None or not user_file.is_file():
        return presets
    found: list[str] = [] if problems is None else problems
    try:
        text = user_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = user_file.read_bytes()[: error.start].count(b"\n") + 1
        message = (
            f"{user_file}, line {line}: not UTF-8 text (byte 0x{error.object[error.start]:02x}); "
            "save it as UTF-8. Its presets were skipped."
        )
        found.append(message)
        log.warning("%s", message)
        return presets
    try:
        presets.update(parse_presets(text, str(user_file), found))
    except PresetError as error:
        found.append(f"{error} Its presets were skipped.")
        log.warning("%s Its presets were skipped.", error)
    return presets


def get_preset(name: str, presets: dict[str, Preset] | None = None) -> Preset:
    """The preset called `name`, or a `PresetError` listing the known names."""
    presets = builtin_presets() if presets is None else presets
    try:
        return presets[name]
    except KeyError:
        known = ", ".join(presets) or "none"
        raise PresetError(f"Unknown preset '{name}'. Known presets: {known}.") from None
