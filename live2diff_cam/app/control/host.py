"""`SessionHost`: the headless `run` command's session, as the control API sees it.

Holds the current `LiveSession` and the values a client set (preset, subject prompt,
strength, structure, mode), so `POST /v1/stop` then `/v1/start` builds a new session that
carries them on. Changes go to a running session through its thread-safe setters. It knows
nothing about HTTP or argument parsing: `run` gives it a function that builds a session.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from live2diff_cam.app.control.schema import BadRequest, ControlError, SettingsChange, Status
from live2diff_cam.app.engine_build import EngineRequest
from live2diff_cam.app.hub import Mode, SessionState
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.session import LiveSession

log = logging.getLogger(__name__)

# (request, mode) -> an unstarted session wired to the command's sinks and stats printer.
SessionFactory = Callable[[EngineRequest, Mode], LiveSession]


class SessionHost:
    """A `ControlTarget` over one `LiveSession` at a time.

    `request`: the engine request the first session starts with (the preset, if any, already
    applied); `preset` / `prompt`: the preset name and subject it was built from.
    """

    def __init__(
        self,
        make_session: SessionFactory,
        request: EngineRequest,
        presets: Mapping[str, Preset],
        *,
        preset: str | None = None,
        prompt: str = "",
        mode: Mode | str = Mode.STYLIZED,
    ) -> None:
        self._make_session = make_session
        self._request = request
        self._presets = dict(presets)
        self._preset = preset
        self._prompt = prompt
        self._mode = Mode(mode)
        self._session: LiveSession | None = None
        self._last: LiveSession | None = None
        self._last_error: str | None = None
        self._session_has_preset = False
        self._lock = threading.RLock()  # start / stop / apply from several request threads

    @property
    def session(self) -> LiveSession | None:
        """The running session, or the last one once stopped (for the final summary)."""
        return self._session or self._last

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Build and start a session with the values in effect; no-op while one runs.
        Raises `SourceError` / `SinkError` when the source or a sink cannot open."""
        with self._lock:
            if self._session is not None:
                return
            session = self._make_session(self._request, self._mode)
            session.on_error(self._remember_error)
            session.start()
            self._session = self._last = session
            # `run` builds sessions without a preset (the request already holds it under the
            # flags), so the engine thread wraps no template around a prompt until a preset
            # is sent to this session.
            self._session_has_preset = False

    def stop(self) -> None:
        """Stop the session (joins its threads); no-op when none runs."""
        with self._lock:
            session, self._session = self._session, None
            if session is None:
                return
            session.stop()

    def wait(self, timeout_s: float) -> bool:
        """True once the running session ended by itself (end of file, `--frames`, a fatal
        error). A session stopped through the API does not count: `run` keeps serving."""
        session = self._session
        if session is None:
            time.sleep(timeout_s)
            return False
        return session.wait(timeout_s) and session is self._session

    # -- the control API -----------------------------------------------------------------------

    def status(self) -> Status:
        with self._lock:
            session = self._session
            stats = session.stats() if session is not None else None
            # What the client asked for: the engine thread applies it between frames.
            request = self._request
            return Status(
                running=session is not None,
                state=session.state.value if session else SessionState.STOPPED.value,
                mode=session.mode.value if session else self._mode.value,
                preset=self._preset,
                prompt=self._prompt,
                strength=request.strength,
                structure=request.depth_scale,
                fps=stats.output_fps if stats else None,
                latency_p50_ms=stats.latency_p50_ms if stats else None,
                latency_p95_ms=stats.latency_p95_ms if stats else None,
                last_error=self._last_error,
            )

    def presets(self) -> list[dict[str, str]]:
        return [{"name": n, "description": p.description} for n, p in self._presets.items()]

    def apply(self, change: SettingsChange) -> None:
        """Apply the given fields in a fixed order: a preset first (it brings its strength),
        then the values sent with it override that."""
        with self._lock:
            preset = None
            if change.preset is not None:
                preset = self._presets.get(change.preset)
                if preset is None:
                    known = ", ".join(self._presets) or "none"
                    raise BadRequest(f"unknown preset '{change.preset}' (known: {known})")
            session = self._session
            if preset is not None:
                self._preset = preset.name
                self._request = self._request.with_preset(preset, self._prompt)
                if session is not None:
                    session.set_preset(preset)
                    self._session_has_preset = True
            if change.prompt is not None:
                self._prompt = change.prompt
            if session is not None and (preset is not None or change.prompt is not None):
                # Sent after the preset (commands apply in that order): the engine thread's
                # subject may still be the rendered prompt `run` started with, and a preset
                # would wrap its template around that.
                session.set_prompt(self._prompt if self._session_has_preset else self._rendered())
            if change.strength is not None:
                self._request = replace(self._request, strength=change.strength)
                if session is not None:
                    session.set_strength(change.strength)
            if change.structure is not None:
                self._request = replace(self._request, depth_scale=change.structure)
                if session is not None:
                    session.set_depth_scale(change.structure)
            if change.mode is not None:
                self._mode = Mode(change.mode)
                if session is not None:
                    session.set_mode(self._mode)
            self._request = self._with_values(self._request)

    def set_mode(self, mode: Mode | str) -> None:
        """The terminal's mode keys in `run` go through here too, so status stays true."""
        self.apply(SettingsChange(mode=Mode(mode).value))

    # -- internals -----------------------------------------------------------------------------

    def _rendered(self) -> str:
        """The subject inside the current preset's template (the subject alone without one)."""
        preset = self._presets.get(self._preset) if self._preset else None
        return preset.render(self._prompt) if preset else self._prompt

    def _with_values(self, request: EngineRequest) -> EngineRequest:
        """`request` with the prompt the next session must start from."""
        return replace(request, prompt=self._rendered())

    def _remember_error(self, message: str) -> None:
        self._last_error = message


__all__ = ["ControlError", "SessionFactory", "SessionHost"]
