"""For the control API tests (the API, the headless host, the GUI, the OBS script): a real
HTTP client (http.client over loopback) and a recording `ControlTarget` double."""

from __future__ import annotations

import http.client
import json
import threading

from live2diff_cam.app.control import SettingsChange, Status
from live2diff_cam.app.control.schema import BadRequest

HOST = "127.0.0.1"


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | dict | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> tuple[int, dict]:
    """(status, decoded JSON answer) for one request on a fresh connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw)
    finally:
        connection.close()


class RecordingTarget:
    """Keeps what the API set and counts start/stop; thread-safe like the real targets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, object] = {
            "preset": "ink",
            "prompt": "",
            "strength": 0.5,
            "structure": 1.0,
            "mode": "stylized",
        }
        self.running = False
        self.starts = 0
        self.stops = 0
        self.changes: list[dict[str, object]] = []

    def status(self) -> Status:
        with self.lock:
            return Status(
                running=self.running,
                state="streaming" if self.running else "stopped",
                fps=12.5 if self.running else None,
                latency_p50_ms=80.0 if self.running else None,
                latency_p95_ms=95.0 if self.running else None,
                last_error=None,
                **self.values,  # type: ignore[arg-type]
            )

    def presets(self) -> list[dict[str, str]]:
        return [{"name": "ink", "description": "lines"}, {"name": "oil", "description": "paint"}]

    def start(self) -> None:
        with self.lock:
            self.starts += 1
            self.running = True

    def stop(self) -> None:
        with self.lock:
            self.stops += 1
            self.running = False

    def apply(self, change: SettingsChange) -> None:
        given = change.given()
        if "preset" in given and given["preset"] not in ("ink", "oil"):
            raise BadRequest(f"unknown preset '{given['preset']}' (known: ink, oil)")
        with self.lock:
            self.changes.append(given)
            self.values.update(given)
