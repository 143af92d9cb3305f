"""The control API driving a real session headless: `SessionHost` + the real tiny engine.

A change posted over loopback HTTP must reach the running engine (prompt, strength, depth
weight, preset) and the sinks (mode), and stop / start must carry the values on.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from live2diff_cam.app.control import ControlServer
from live2diff_cam.app.control.host import SessionHost
from live2diff_cam.app.frames import Frame
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.session import EngineRequest, LiveSession, build_engine
from tests.app.control_client import call
from tests.data import CLIP, data_file

TOKEN = "host-test-token"
GREY = 77  # every input frame is this grey: bypass output is exactly it, stylized is not
PRESETS = {
    "ink": Preset(
        name="ink", model="tiny", prompt_template="ink drawing of {prompt}", strength=0.6
    ),
    "oil": Preset(
        name="oil", model="tiny", prompt_template="oil painting of {prompt}", strength=0.3
    ),
}


class GreyCamera:
    """A live source: grey frames at 30 FPS, forever; reopens after a close like a camera."""

    name = "grey camera"

    def __enter__(self) -> GreyCamera:
        self.index = 0
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> Frame:
        time.sleep(1 / 30)
        self.index += 1
        return Frame(np.full((24, 32, 3), GREY, np.uint8), time.perf_counter_ns(), self.index)


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.lock = threading.Lock()

    def __enter__(self) -> ListSink:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, frame: Frame) -> None:
        with self.lock:
            self.frames.append(frame.image)

    def newest(self) -> np.ndarray | None:
        with self.lock:
            return self.frames[-1] if self.frames else None


class RecordingEngine:
    """The real tiny engine, recording the live parameter calls it gets."""

    def __init__(self, engine: object) -> None:
        self._engine = engine
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def set_prompt(self, prompt: str) -> None:
        self.calls.append(("prompt", prompt))
        self._engine.set_prompt(prompt)

    def set_strength(self, strength: float) -> None:
        self.calls.append(("strength", strength))
        self._engine.set_strength(strength)

    def set_depth_scale(self, scale: float) -> None:
        self.calls.append(("depth_scale", scale))
        self._engine.set_depth_scale(scale)


def wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def tiny_host():
    engines: list[RecordingEngine] = []
    requests: list[EngineRequest] = []
    sink = ListSink()

    def factory(request: EngineRequest, depth_hook) -> RecordingEngine:
        requests.append(request)
        engines.append(RecordingEngine(build_engine(request, depth_hook)))
        return engines[-1]

    def make_session(request: EngineRequest, mode) -> LiveSession:
        return LiveSession(GreyCamera(), [sink], request=request, mode=mode, engine_factory=factory)

    request = EngineRequest(model="tiny", height=16, width=16, device="cpu").with_preset(
        PRESETS["ink"], ""
    )
    host = SessionHost(make_session, request, PRESETS, preset="ink")
    with ControlServer(host, 0, TOKEN) as server:
        yield host, server.port, engines, requests, sink
    host.stop()


def test_api_changes_reach_a_running_tiny_model_session(tiny_host):
    host, port, engines, requests, sink = tiny_host
    status, answer = call(port, "POST", "/v1/start", token=TOKEN)
    assert (status, answer["running"], answer["preset"]) == (200, True, "ink")
    wait_for(lambda: call(port, "GET", "/v1/status", token=TOKEN)[1]["state"] == "streaming")
    wait_for(lambda: sink.newest() is not None and not (sink.newest() == GREY).all())

    # 1. Live parameters reach the engine thread, newest value of each kind.
    body = {"prompt": "a cat", "strength": 0.9, "structure": 0.5}
    status, answer = call(port, "POST", "/v1/settings", body, token=TOKEN)
    assert (status, answer["prompt"], answer["strength"], answer["structure"]) == (
        200,
        "a cat",
        0.9,
        0.5,
    )
    engine = engines[-1]
    wait_for(lambda: ("depth_scale", 0.5) in engine.calls)
    assert ("prompt", "ink drawing of a cat") in engine.calls
    assert ("strength", 0.9) in engine.calls
    assert host.session.request.strength == 0.9

    # 2. A mode switch changes what the sinks get: bypass is the grey input itself.
    assert (
        call(port, "POST", "/v1/settings", {"mode": "bypass"}, token=TOKEN)[1]["mode"] == "bypass"
    )
    wait_for(lambda: (sink.newest() == GREY).all())

    # 3. A preset brings its template and strength (same model: no reload).
    call(port, "POST", "/v1/settings", {"preset": "oil", "mode": "stylized"}, token=TOKEN)
    wait_for(lambda: ("prompt", "oil painting of a cat") in engines[-1].calls)
    assert ("strength", 0.3) in engines[-1].calls
    status = call(port, "GET", "/v1/status", token=TOKEN)[1]
    assert status["fps"] is not None and status["fps"] > 0
    assert status["latency_p50_ms"] is not None

    # 4. Stop, change while stopped, start: the new session is built with every value.
    assert call(port, "POST", "/v1/stop", token=TOKEN)[1]["state"] == "stopped"
    assert not host.wait(0.05)  # stopped through the API: `run` keeps serving
    call(port, "POST", "/v1/settings", {"strength": 0.2}, token=TOKEN)
    call(port, "POST", "/v1/start", token=TOKEN)
    wait_for(lambda: len(requests) == 2)
    assert requests[1].prompt == "oil painting of a cat"
    assert (requests[1].strength, requests[1].depth_scale) == (0.2, 0.5)


def test_an_unknown_preset_changes_nothing(tiny_host):
    host, port, *_ = tiny_host
    status, answer = call(
        port, "POST", "/v1/settings", {"preset": "sepia", "strength": 0.1}, token=TOKEN
    )
    assert (status, answer) == (400, {"error": "unknown preset 'sepia' (known: ink, oil)"})
    assert host.status().strength == 0.6


def test_run_serves_the_api_while_it_streams(tmp_path, monkeypatch, capsys):
    from live2diff_cam import cli
    from live2diff_cam.app.control import load_or_create_token

    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path))
    with socket.socket() as probe:  # a free port, given back before `run` binds it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answers: list[tuple[int, dict]] = []
    wait = LiveSession.wait

    def wait_then_ask(self, timeout_s=None):
        if not answers:
            token = load_or_create_token()
            answers.append(call(port, "GET", "/v1/status", token=token))
            answers.append(call(port, "POST", "/v1/settings", {"mode": "privacy"}, token=token))
            raise KeyboardInterrupt
        return wait(self, timeout_s)

    monkeypatch.setattr(LiveSession, "wait", wait_then_ask)
    clip = data_file(CLIP)
    rc = cli.main(
        [
            *("run", "--source", str(clip), "--mode", "bypass", "--height", "16", "--width", "16"),
            *("--control-port", str(port)),
        ]
    )
    assert rc == 130
    assert answers[0][0] == 200 and answers[0][1]["mode"] == "bypass"
    assert answers[1][0] == 200 and answers[1][1]["mode"] == "privacy"
    err = capsys.readouterr().err
    token_file = tmp_path / "control-token"
    assert f"live2diff-cam: control API on http://127.0.0.1:{port} (token in {token_file})" in err
