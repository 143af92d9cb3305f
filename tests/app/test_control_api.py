"""The control API over real loopback HTTP: token, every route, bad bodies, limits, threads.

The server drives a recording test double here; `test_control_host.py` drives a real session.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from live2diff_cam.app.control import ControlError, ControlServer, load_or_create_token, token_path
from live2diff_cam.app.control.server import MAX_BODY_BYTES
from tests.app.control_client import RecordingTarget, call

TOKEN = "test-token-0123456789"


@pytest.fixture
def target() -> RecordingTarget:
    return RecordingTarget()


@pytest.fixture
def server(target):
    with ControlServer(target, 0, TOKEN, timeout_s=0.5) as running:
        yield running
    assert running.open_connections == 0


def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


ROUTES = [
    ("GET", "/v1/status", None),
    ("GET", "/v1/presets", None),
    ("POST", "/v1/start", None),
    ("POST", "/v1/stop", None),
    ("POST", "/v1/settings", {"strength": 0.7}),
]


def test_the_token_file_is_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path / "config"))
    token = load_or_create_token()
    path = token_path()
    assert path == tmp_path / "config" / "control-token"
    assert len(token) >= 40 and path.read_text().strip() == token
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token() == token  # the same token on every start
    assert not list(path.parent.glob("*.tmp"))


def test_it_listens_on_loopback_only(server):
    assert server.url == f"http://127.0.0.1:{server.port}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN, "Bearer "],
)
def test_every_route_refuses_a_missing_or_wrong_token(
    server, target, method, path, body, authorization
):
    headers = {} if authorization is None else {"Authorization": authorization}
    status, answer = call(server.port, method, path, body, headers=headers)
    assert status == 401
    assert answer["error"].startswith("missing or wrong token")
    assert target.starts == target.stops == 0 and target.changes == []


def test_every_verb_does_its_job(server, target):
    port = server.port
    status, answer = call(port, "GET", "/v1/status", token=TOKEN)
    assert status == 200
    assert answer == {
        "running": False,
        "state": "stopped",
        "mode": "stylized",
        "preset": "ink",
        "prompt": "",
        "strength": 0.5,
        "structure": 1.0,
        "fps": None,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
        "last_error": None,
    }
    assert call(port, "GET", "/v1/presets", token=TOKEN) == (
        200,
        {
            "presets": [
                {"name": "ink", "description": "lines"},
                {"name": "oil", "description": "paint"},
            ]
        },
    )
    status, answer = call(port, "POST", "/v1/start", token=TOKEN)
    assert (status, answer["running"], answer["fps"], target.starts) == (200, True, 12.5, 1)
    status, answer = call(
        port,
        "POST",
        "/v1/settings",
        {"preset": "oil", "prompt": "a cat", "strength": 0.8, "structure": 0.25, "mode": "bypass"},
        token=TOKEN,
    )
    assert status == 200
    assert {k: answer[k] for k in ("preset", "prompt", "strength", "structure", "mode")} == {
        "preset": "oil",
        "prompt": "a cat",
        "strength": 0.8,
        "structure": 0.25,
        "mode": "bypass",
    }
    # Only the fields sent reach the target: the others stay as they are.
    assert call(port, "POST", "/v1/settings", {"strength": 1}, token=TOKEN)[0] == 200
    assert target.changes[-1] == {"strength": 1.0}
    status, answer = call(port, "POST", "/v1/stop", b"{}", token=TOKEN)
    assert (status, answer["running"], target.stops) == (200, False, 1)


@pytest.mark.parametrize(
    ("method", "path", "code", "error"),
    [
        ("GET", "/v1/nothing", 404, "no such endpoint /v1/nothing; see docs/OBS.md for the API"),
        ("POST", "/v1/status", 405, "/v1/status takes GET, not POST"),
        ("GET", "/v1/settings", 405, "/v1/settings takes POST, not GET"),
        ("DELETE", "/v1/start", 405, "/v1/start takes POST, not DELETE"),
        ("PUT", "/v1/settings", 405, "/v1/settings takes POST, not PUT"),
    ],
)
def test_unknown_paths_and_wrong_methods(server, method, path, code, error):
    assert call(server.port, method, path, token=TOKEN) == (code, {"error": error})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{strength: 0.5", "the body is not valid JSON (key must be a string at line 1 column 2)"),
        (b"", "the body is not valid JSON (EOF while parsing a value at line 1 column 0)"),
        (b'["strength", 0.5]', 'the body must be a JSON object such as {"strength": 0.6}'),
        (b"{}", "give at least one of preset, prompt, strength, structure, mode"),
        (b'{"strength": 1.5}', "strength: Input should be less than or equal to 1"),
        (b'{"strength": "0.5"}', "strength: Input should be a valid number"),
        (b'{"structure": -1}', "structure: Input should be greater than or equal to 0"),
        (b'{"mode": "sepia"}', "mode: Input should be 'stylized', 'bypass', 'freeze' or 'privacy'"),
        (b'{"mode": null}', "null is not a value: leave the field out to keep it as it is"),
        (
            b'{"speed": 2}',
            "unknown field 'speed': allowed are preset, prompt, strength, structure, mode",
        ),
        (b'{"preset": "sepia"}', "unknown preset 'sepia' (known: ink, oil)"),
        (b"\xff\xfe", "the body is not valid JSON (expected value at line 1 column 1)"),
    ],
)
def test_a_bad_settings_body_gets_400_and_one_line(server, target, body, error):
    status, answer = call(server.port, "POST", "/v1/settings", body, token=TOKEN)
    assert (status, answer) == (400, {"error": error})
    assert "\n" not in answer["error"]
    assert target.changes == []


def test_start_and_stop_take_no_body(server, target):
    status, answer = call(server.port, "POST", "/v1/start", {"mode": "bypass"}, token=TOKEN)
    assert (status, answer) == (400, {"error": "/v1/start takes no body (or {})"})
    assert target.starts == 0


def test_a_one_megabyte_body_gets_413_and_the_server_goes_on(server, target):
    body = json.dumps({"prompt": "x" * 1_000_000}).encode()
    status, answer = call(server.port, "POST", "/v1/settings", body, token=TOKEN)
    assert status == 413
    assert answer == {"error": f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}"}
    assert target.changes == []
    assert call(server.port, "GET", "/v1/status", token=TOKEN)[0] == 200


def test_a_client_that_disconnects_or_stalls_mid_request_frees_its_thread(server, target):
    head = (
        "POST /v1/settings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    # 1. Half a body, then gone.
    with socket.create_connection(("127.0.0.1", server.port)) as gone:
        gone.sendall(head + b'{"strength": 0.')
    # 2. Half a body, then silence with the socket open (the server's 0.5 s timeout ends it).
    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.sendall(head + b'{"strength": 0.')
    # 3. Half the headers, then silence.
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.sendall(b"GET /v1/status HTTP/1.1\r\nAuthor")
    wait_for(lambda: server.open_connections == 0)
    stalled.close()
    slow.close()
    assert target.changes == []
    assert call(server.port, "POST", "/v1/settings", {"strength": 0.1}, token=TOKEN)[0] == 200


def test_concurrent_clients_all_get_answers(server, target):
    def client(number: int) -> list[int]:
        codes = []
        for step in range(8):
            if step % 4 == 0:
                codes.append(call(server.port, "GET", "/v1/status", token=TOKEN)[0])
            elif step % 4 == 1:
                body = {"strength": (number % 10) / 10, "prompt": f"client {number}"}
                codes.append(call(server.port, "POST", "/v1/settings", body, token=TOKEN)[0])
            elif step % 4 == 2:
                codes.append(call(server.port, "GET", "/v1/presets", token=TOKEN)[0])
            else:
                codes.append(call(server.port, "GET", "/v1/status")[0])  # no token
        return codes

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(client, range(16)))
    assert all(codes == [200, 200, 200, 401] * 2 for codes in results)
    assert len(target.changes) == 32
    # The last change to land is what the status says: no torn update.
    status = call(server.port, "GET", "/v1/status", token=TOKEN)[1]
    last = target.changes[-1]
    assert (status["prompt"], status["strength"]) == (last["prompt"], last["strength"])


def test_a_busy_port_is_one_clear_error(server, target):
    second = ControlServer(target, server.port, TOKEN)
    with pytest.raises(
        ControlError, match=rf"127\.0\.0\.1:{server.port} .*pick another --control-port"
    ):
        second.start()
    with pytest.raises(ControlError, match=r"--control-port must be in 1\.\.65535, got 70000"):
        ControlServer(target, 70000, TOKEN)


def test_doctor_says_where_the_token_is(tmp_path, monkeypatch):
    from live2diff_cam.app import doctor

    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path))
    path = tmp_path / "control-token"
    assert doctor.check_control_api().detail == (
        "off unless --control-port PORT or control_port in settings.toml; token file "
        f"{path} (written on the first start with --control-port)"
    )
    load_or_create_token()
    assert doctor.check_control_api().detail.endswith(f"token file {path} (present)")


def test_the_port_comes_from_the_flag_else_the_setting(tmp_path, monkeypatch, caplog):
    from live2diff_cam.app.control.serve import chosen_port

    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path))
    assert chosen_port(None) == 0  # off by default
    (tmp_path / "settings.toml").write_text("control_port = 8510\n")
    assert (chosen_port(None), chosen_port(9000), chosen_port(0)) == (8510, 9000, 0)
    (tmp_path / "settings.toml").write_text("control_port = 70000\n")
    assert chosen_port(None) == 0
    assert "control_port must be in 0..65535, got 70000." in caplog.text
    assert "It was moved to settings.toml.bad-" in caplog.text  # nothing of the user's is lost
    assert "The control API stays off." in caplog.text
