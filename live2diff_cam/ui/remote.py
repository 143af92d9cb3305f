"""The control API's target in the GUI: each API call runs on the Qt thread, through the window.

`WindowControl` turns `POST /v1/settings`, `/v1/start` and `/v1/stop` into the same window
calls a click makes (`choose_preset`, `set_mode`, the style sliders, the prompt), so the
window, the tray and the bridge all show a change made from OBS at once, and the next session
starts with it. The server's request thread waits (up to `timeout_s`) for the Qt thread's
answer, so a bad value comes back to the client as its error. Knows nothing about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from live2diff_cam.app.control import ControlError, SettingsChange, Status
from live2diff_cam.app.control.schema import BadRequest
from live2diff_cam.app.presets import Preset

if TYPE_CHECKING:
    from live2diff_cam.ui.main_window import MainWindow

T = TypeVar("T")
ANSWER_TIMEOUT_S = 5.0


class WindowControl(QObject):
    """A `ControlTarget` over a `MainWindow` (lives on the window's thread)."""

    _invoke = Signal(object)  # (function, future): queued to the Qt thread

    def __init__(
        self,
        window: MainWindow,
        presets: Mapping[str, Preset],
        timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._presets = dict(presets)
        self._timeout_s = timeout_s
        self._invoke.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def status(self) -> Status:
        return self._on_qt_thread(self._status)

    def presets(self) -> list[dict[str, str]]:
        return [{"name": n, "description": p.description} for n, p in self._presets.items()]

    def start(self) -> None:
        self._on_qt_thread(self._window.start_streaming)

    def stop(self) -> None:
        self._on_qt_thread(self._window.stop_streaming)

    def apply(self, change: SettingsChange) -> None:
        if change.preset is not None and change.preset not in self._presets:
            known = ", ".join(self._presets) or "none"
            raise BadRequest(f"unknown preset '{change.preset}' (known: {known})")
        self._on_qt_thread(lambda: self._apply(change))

    # -- on the Qt thread ----------------------------------------------------------------------

    def _status(self) -> Status:
        window = self._window
        bridge = window.bridge
        stats = bridge.stats()
        return Status(
            running=bridge.running,
            state=bridge.state,
            mode=window.modes.mode(),
            preset=window.gallery.current_name(),
            prompt=bridge.prompt,
            strength=bridge.strength,
            structure=bridge.depth_scale,
            fps=stats.output_fps if stats else None,
            latency_p50_ms=stats.latency_p50_ms if stats else None,
            latency_p95_ms=stats.latency_p95_ms if stats else None,
            last_error=window.last_error,
        )

    def _apply(self, change: SettingsChange) -> None:
        # The order a user would click: the preset first (it brings its strength), then the
        # values sent with it override that.
        window = self._window
        bridge = window.bridge
        if change.preset is not None:
            window.choose_preset(change.preset)
        if change.prompt is not None:
            window.prompts.set_prompts(change.prompt, window.prompts.negative_edit.text())
            bridge.set_prompt(change.prompt)
        if change.strength is not None:
            bridge.set_strength(change.strength)
        if change.structure is not None:
            bridge.set_depth_scale(change.structure)
        if change.strength is not None or change.structure is not None:
            controls = window.style_controls
            controls.set_values(bridge.strength, bridge.depth_scale, controls.seed())
        if change.mode is not None:
            window.set_mode(change.mode)

    def _on_qt_thread(self, function: Callable[[], T]) -> T:
        if QThread.currentThread() is self.thread():
            return function()
        future: Future[T] = Future()
        self._invoke.emit((function, future))
        try:
            return future.result(self._timeout_s)
        except FutureTimeout:
            future.cancel()
            raise ControlError(
                f"The window did not answer within {self._timeout_s:.0f} s (is it frozen?)."
            ) from None

    @Slot(object)
    def _run(self, job: tuple[Callable[[], object], Future]) -> None:
        function, future = job
        if not future.set_running_or_notify_cancel():
            return  # the client gave up waiting: do not apply a change it was told failed
        try:
            future.set_result(function())
        except BaseException as error:  # handed to the waiting request thread
            future.set_exception(error)
