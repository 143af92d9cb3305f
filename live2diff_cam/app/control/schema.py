"""What the control API accepts and reports: one request schema, one status shape.

`SettingsChange` (pydantic) is the only schema a request body is checked against: any of
preset, prompt, strength, structure and mode, nothing else. `parse_settings()` turns a body
into one, or a `BadRequest` with one line naming the field and the rule. `Status` is what
`GET /v1/status` returns. This module knows nothing about HTTP, sessions or Qt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from live2diff_cam.errors import Live2DiffError

MAX_STRUCTURE = 2.0  # the window's structure slider ends here too
MAX_PROMPT_CHARS = 1000
ModeName = Literal["stylized", "bypass", "freeze", "privacy"]


class ControlError(Live2DiffError):
    """The control API could not do what was asked (the server answers 409)."""


class BadRequest(ControlError):
    """The request itself is wrong: bad JSON, a field out of range, an unknown preset (400)."""


class SettingsChange(BaseModel):
    """`POST /v1/settings`: give any of these; the others stay as they are.

    `strength` in [0, 1] (0 = the input, 1 = the style); `structure` (depth weight) in
    [0, 2]; `mode` one of stylized / bypass / freeze / privacy; `preset` a name from
    `GET /v1/presets`; `prompt` the subject the preset's template wraps.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    preset: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    strength: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    structure: float | None = Field(default=None, ge=0.0, le=MAX_STRUCTURE, allow_inf_nan=False)
    mode: ModeName | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> SettingsChange:
        if not self.model_fields_set:
            raise ValueError("give at least one of preset, prompt, strength, structure, mode")
        return self

    def given(self) -> dict[str, object]:
        """Only the fields the client sent (an explicit null is not allowed)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def parse_settings(body: bytes) -> SettingsChange:
    """The change in `body` (a JSON object), or `BadRequest` with one line saying why."""
    try:
        change = SettingsChange.model_validate_json(body)
    except ValidationError as error:
        raise BadRequest(_one_line(error)) from None
    if any(value is None for value in change.given().values()):
        raise BadRequest("null is not a value: leave the field out to keep it as it is")
    return change


def _one_line(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "json_invalid":
        return f"the body is not valid JSON ({first.get('ctx', {}).get('error', message)})"
    if first["type"] == "model_type":
        return 'the body must be a JSON object such as {"strength": 0.6}'
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}': allowed are preset, prompt, strength, structure, mode"
    return f"{where}: {message}" if where else message


@dataclass(frozen=True)
class Status:
    """`GET /v1/status`. `state`: the session's life-cycle state ("stopped" when none);
    FPS and latency (ms, p50/p95) come from the session's stats, None before the first one."""

    running: bool
    state: str
    mode: str
    preset: str | None
    prompt: str
    strength: float
    structure: float
    fps: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    last_error: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
