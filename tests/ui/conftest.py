"""Fixtures for the UI tests: offscreen Qt, the real clip, tiny-model sessions.

QT_QPA_PLATFORM is set before anything imports Qt, so the tests run without a display.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from pathlib import Path

import pytest

from live2diff_cam.app.presets import Preset
from tests.data import CLIP, data_file


@pytest.fixture(scope="session")
def clip() -> Path:
    return data_file(CLIP)


@pytest.fixture
def presets() -> dict[str, Preset]:
    """Two styles on the tiny model, as data (the built-in list names real hub models)."""
    return {
        "ink": Preset(
            name="ink",
            model="tiny",
            prompt_template="ink drawing of {prompt}",
            negative_prompt="blurry",
            strength=0.6,
            description="Black ink lines",
        ),
        "oil": Preset(
            name="oil",
            model="tiny",
            prompt_template="oil painting of {prompt}",
            strength=0.3,
            description="Thick paint",
        ),
    }


class RecordingEngine:
    """Wraps the real engine and records the live parameter calls it receives."""

    def __init__(self, engine: object) -> None:
        self._engine = engine
        self.calls: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def _record(self, name: str, value: object) -> None:
        with self._lock:
            self.calls.append((name, value))

    def values(self, name: str) -> list[object]:
        with self._lock:
            return [value for call, value in self.calls if call == name]

    def set_strength(self, strength: float) -> None:
        self._record("strength", strength)
        self._engine.set_strength(strength)

    def set_prompt(self, prompt: str) -> None:
        self._record("prompt", prompt)
        self._engine.set_prompt(prompt)

    def set_depth_scale(self, scale: float) -> None:
        self._record("depth_scale", scale)
        self._engine.set_depth_scale(scale)


@pytest.fixture
def engines():
    """An engine factory for the bridge: the app's real `build_engine` (tiny model), each
    engine wrapped in a `RecordingEngine`; the list holds every engine built."""
    from live2diff_cam.app import session

    # An engine that does not import fails these tests (the import raises); it never skips them.
    from live2diff_cam.engine import StreamEngine  # noqa: F401

    built: list[RecordingEngine] = []

    def factory(request, record_depth_ms):
        engine = RecordingEngine(session.build_engine(request, record_depth_ms))
        built.append(engine)
        return engine

    factory.built = built  # type: ignore[attr-defined]
    return factory
