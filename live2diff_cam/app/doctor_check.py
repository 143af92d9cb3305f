"""The vocabulary of `live2diff-cam doctor`: a `Check` is one line of the report (what was
checked, how it came out, what was seen, the fix) with its `Status`. Shared by the check modules
(`doctor_runtime`, `doctor_vcam`, `doctor_display`) and the report (`doctor`); knows no check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from types import ModuleType

OK, WARN, FAIL = "OK", "WARN", "FAIL"


class Status(str, Enum):
    """How a check came out. FAIL only for the essentials (see `doctor`'s docstring)."""

    OK = OK
    WARN = WARN
    FAIL = FAIL


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it came out, what was seen, the fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Check.name must not be empty")
        object.__setattr__(self, "status", Status(self.status))
        if self.status is not Status.OK and not self.fix:
            raise ValueError(f"check {self.name!r} is {self.status.value} but gives no fix")

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


Importer = Callable[[str], ModuleType]


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
