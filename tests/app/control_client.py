"""A real HTTP client for the control API tests (http.client over loopback), shared by the
tests of the API, the headless host and the OBS script."""

from __future__ import annotations

import http.client
import json

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
