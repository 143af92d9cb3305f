"""The session's engine thread: build the engine, apply live parameters, step, pair outputs.

`EngineLoop.run()` builds the engine with the session's factory when the mode needs it, applies
queued parameter changes between frames (newest value of each kind only), runs
`StreamEngine.step()` and drains `pop_finished()`. Outputs come out one per input, in input
order, so each is paired with the oldest input still in flight and keeps its capture time.
Live, only the freshest output goes on; offline every one does, and a frame the engine fails
on repeats the last output, so a file still gets one output per input. Too many failures in a
row fall back to bypass (live) or end the stream (offline). It does not know the source or the
sinks, only the hub's mailboxes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from live2diff_cam.app.compose import Composer
from live2diff_cam.app.engine_build import EngineFactory, EngineLike
from live2diff_cam.app.frames import Frame
from live2diff_cam.app.hub import POLL_S, Mode, SessionHub, SessionState
from live2diff_cam.app.mailbox import MailboxClosed
from live2diff_cam.app.messages import (
    as_engine_error,
    command_failed_message,
    engine_gave_up_message,
    engine_load_message,
    frame_error_message,
)
from live2diff_cam.app.presets import Preset
from live2diff_cam.errors import EngineError, ModelLoadError

log = logging.getLogger(__name__)

ERROR_LIMIT = 10  # engine failures in a row before the session falls back to bypass


class EngineLoop:
    """Owns the engine and the inputs in flight; everything runs on the engine thread.

    `subject` is the prompt the user typed; the preset in effect wraps it in its template.
    """

    def __init__(
        self,
        hub: SessionHub,
        factory: EngineFactory,
        composer: Composer,
        subject: str,
        error_limit: int = ERROR_LIMIT,
        depth_callback: Callable[[object], None] | None = None,
    ) -> None:
        self._hub = hub
        self._factory = factory
        self._composer = composer
        self._subject = subject
        self._error_limit = error_limit
        self._depth_callback = depth_callback
        self._engine: EngineLike | None = None
        self._inflight: deque[Frame] = deque()  # inputs whose outputs have not come out yet
        self._last_emitted: Frame | None = None  # offline: what FREEZE and a failed frame repeat
        self._errors_in_row = 0

    def run(self) -> None:
        """The thread's body: until stop, the end of the input, or a fatal error."""
        hub = self._hub
        try:
            while not hub.stop.is_set():
                self._apply_commands()
                if self._engine is None and hub.mode is Mode.STYLIZED:
                    self._engine = self._build()
                    if self._engine is None and hub.offline:
                        return
                try:
                    frame = hub.engine_in.take(POLL_S)
                except MailboxClosed:
                    break
                if frame is None:
                    continue
                if self._engine is None or hub.mode is not Mode.STYLIZED:
                    if hub.offline:
                        self._emit(self._composer.compose(hub.mode, frame, self._last_emitted))
                    continue  # live: a frame that raced a mode switch
                if not self._advance(self._engine, frame):
                    return
            if self._engine is not None and hub.offline and not hub.stop.is_set():
                self._flush(self._engine)
        except Exception as error:  # a bug, not a frame error: surface it, never hang
            log.exception("engine thread failed")
            hub.fail(as_engine_error(error))
        finally:
            hub.engine_done.set()
            hub.engine_out.close()

    # -- building ------------------------------------------------------------------------------

    def _build(self) -> EngineLike | None:
        """The engine for the request in effect, or None when it cannot load (reported)."""
        hub = self._hub
        request = hub.request
        hub.set_state(SessionState.LOADING, f"loading model '{request.model}'")
        try:
            engine = self._factory(request, self._on_depth)
        except Exception as error:
            message = engine_load_message(request.model, error)
            if hub.offline:
                hub.fail(ModelLoadError(message))
            else:
                hub.mode = Mode.BYPASS
                hub.set_state(SessionState.ERROR, message)
                hub.report(message)
            return None
        warm_up = getattr(engine, "warm_up", None)  # test doubles need not compile
        if warm_up is not None:
            warm_up(lambda text: hub.set_state(SessionState.LOADING, text))
        hub.delay_frames = int(getattr(engine, "delay_frames", 0))
        # The engine's warm-up window: frames it takes before the first output (progress).
        warmup = getattr(getattr(engine, "config", None), "warmup", 0)
        hub.warmup_total = int(warmup) if isinstance(warmup, int) else 0
        hub.warmup_done = 0
        self._inflight.clear()
        hub.set_state(SessionState.WARMING_UP, f"model '{request.model}' loaded")
        return engine

    def _on_depth(self, depth: object, milliseconds: float) -> None:
        self._hub.stats.depth_ms.add(milliseconds)
        if self._depth_callback is not None:
            self._depth_callback(depth)

    # -- stepping ------------------------------------------------------------------------------

    def _advance(self, engine: EngineLike, frame: Frame) -> bool:
        """Step `frame` and pass its outputs on; False when the stream must end (offline)."""
        hub = self._hub
        outputs = self._step(engine, frame)
        if outputs is None:
            self._errors_in_row += 1
            if self._errors_in_row >= self._error_limit:
                self._give_up()
                return not hub.offline
            if hub.offline:
                # One output per input even when a frame fails: repeat the last one.
                self._emit(self._composer.compose(Mode.FREEZE, frame, self._last_emitted))
            return True
        self._errors_in_row = 0
        if hub.state is SessionState.WARMING_UP:
            hub.warmup_done += 1
        if not outputs:
            return True
        if hub.state is not SessionState.STREAMING:
            hub.set_state(SessionState.STREAMING, "stylized frames are coming out")
        if hub.offline:
            for output in outputs:
                self._emit(output)
        else:
            # Live: only the freshest output is worth showing.
            hub.engine_out.put(outputs[-1])
        return True

    def _step(self, engine: EngineLike, frame: Frame) -> list[Frame] | None:
        """One engine step plus every finished frame; None when the engine failed on it."""
        start = time.perf_counter_ns()
        self._inflight.append(frame)
        try:
            images = []
            image = engine.step(frame.image)
            while image is not None:
                images.append(image)
                image = engine.pop_finished()
        except Exception as error:
            self._inflight.pop()
            self._hub.stats.engine_errors += 1
            self._hub.report(frame_error_message(frame.index, error))
            return None
        self._hub.stats.engine_ms.add((time.perf_counter_ns() - start) / 1e6)
        return [self._pair(image) for image in images]

    def _pair(self, image: np.ndarray) -> Frame:
        # Outputs come out one per input, in input order: the oldest input in flight made it.
        source = self._inflight.popleft() if self._inflight else self._hub.last_input
        assert source is not None, "an engine output without any input"
        return Frame(image, source.timestamp_ns, source.index)

    def _flush(self, engine: EngineLike) -> None:
        """Offline end of input: every frame still in flight gets its output."""
        try:
            images = engine.flush()
        except Exception as error:
            self._hub.stats.engine_errors += 1
            index = self._inflight[0].index if self._inflight else -1
            self._hub.report(frame_error_message(index, error))
            images = []
        for image in images:
            self._emit(self._pair(image))
        # Frames the engine lost (it failed to flush) still get one output each.
        while self._inflight:
            frame = self._inflight.popleft()
            self._emit(self._composer.compose(Mode.FREEZE, frame, self._last_emitted))

    def _give_up(self) -> None:
        hub = self._hub
        message = engine_gave_up_message(self._errors_in_row, hub.offline)
        self._errors_in_row = 0
        if hub.offline:
            hub.fail(EngineError(message))
            return
        hub.mode = Mode.BYPASS
        hub.set_state(SessionState.ERROR, message)
        hub.report(message)

    def _emit(self, frame: Frame) -> None:
        """Offline hand-off to the output thread: lossless, waits while it is busy."""
        self._last_emitted = frame
        with contextlib.suppress(MailboxClosed):  # closed: the session is stopping
            while not self._hub.stop.is_set():
                if self._hub.engine_out.put_wait(frame, POLL_S):
                    return

    # -- live parameters -----------------------------------------------------------------------

    def _apply_commands(self) -> None:
        """Apply queued parameter changes (engine thread, between frames).

        Only the newest value of each kind is applied: a dragged slider queues dozens of
        strengths per frame and the engine needs just the last. Kinds keep the order of their
        last change, so a preset followed by a prompt applies the preset's template to it.
        """
        latest: dict[str, object] = {}
        while True:
            try:
                name, value = self._hub.commands.get_nowait()
            except queue.Empty:
                break
            latest.pop(name, None)
            latest[name] = value
        for name, value in latest.items():
            try:
                self._apply_command(name, value)
            except Exception as error:
                self._hub.report(command_failed_message(name, value, error))

    def _apply_command(self, name: str, value: object) -> None:
        hub = self._hub
        engine = self._engine
        request = hub.request
        if name == "prompt":
            self._subject = str(value)
            full = hub.preset.render(self._subject) if hub.preset else self._subject
            hub.request = replace(request, prompt=full)
            if engine is not None:
                engine.set_prompt(full)
        elif name == "strength":
            hub.request = replace(request, strength=float(value))  # type: ignore[arg-type]
            if engine is not None:
                engine.set_strength(float(value))  # type: ignore[arg-type]
        elif name == "depth_scale":
            hub.request = replace(request, depth_scale=float(value))  # type: ignore[arg-type]
            if engine is not None:
                engine.set_depth_scale(float(value))  # type: ignore[arg-type]
        elif name == "preset":
            assert isinstance(value, Preset)
            hub.preset = value
            hub.request = request.with_preset(value, self._subject)
            if engine is None or (value.model, value.loras) != (request.model, request.lora):
                # Another model: drop this engine; the loop builds the new one.
                self._engine = None
                self._inflight.clear()
                return
            engine.set_prompt(hub.request.prompt)
            engine.set_strength(hub.request.strength)
        elif name == "restart" and engine is not None:
            # The cache holds frames from before a switch back to stylized: a fresh stream.
            engine.reset()
            self._inflight.clear()
            hub.engine_out.clear()
            hub.warmup_done = 0
            hub.set_state(SessionState.WARMING_UP, "warming up after a mode switch")
