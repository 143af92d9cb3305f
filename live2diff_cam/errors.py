"""The one base class of every error a user may see.

Each part raises its own subclass (`EngineError`, `ModelLoadError`, `DepthError`, `SourceError`,
`SinkError`) with a message that says what is wrong and how to fix it. The CLI and the UI show
that message as it is, without a traceback (unless `--debug`).
"""

from __future__ import annotations


class Live2DiffError(Exception):
    """An error whose message is written for the user: what failed and what to do about it."""


class EngineError(Live2DiffError):
    """The streaming engine was misused or failed (wrong frame size, bad config, device error)."""


class ModelLoadError(Live2DiffError):
    """A model file or hub id could not be loaded (missing, corrupt, wrong format or keys)."""


class DepthError(Live2DiffError):
    """The depth estimator could not be built or run."""


class SourceError(Live2DiffError):
    """A video source (camera, screen, window, file) could not be opened or read."""


class SinkError(Live2DiffError):
    """A video sink (virtual camera, recorder, PNG folder) could not be opened or written."""
