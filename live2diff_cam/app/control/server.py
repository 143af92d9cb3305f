"""`ControlServer`: the control API over HTTP on 127.0.0.1, served by the standard library.

Every request needs `Authorization: Bearer <token>` (constant-time compare). Routes:
`GET /v1/status`, `GET /v1/presets`, `POST /v1/start`, `POST /v1/stop`, `POST /v1/settings`
(body: `schema.SettingsChange`). Answers are JSON; an error is `{"error": "<one line>"}` with
400 (bad body or value), 401 (token), 404, 405, 409 (the app could not do it), 411, 413 (body
over `MAX_BODY_BYTES`) or 500. Each connection has a socket timeout, so a client that stalls or
disconnects mid-request frees its thread within `timeout_s`.

The server owns no state of the app: it calls a `ControlTarget` (the headless `SessionHost`,
or the GUI's window adapter), from its own request threads. It never binds another address.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from live2diff_cam.app.control.schema import (
    BadRequest,
    ControlError,
    SettingsChange,
    Status,
    parse_settings,
)
from live2diff_cam.app.control.token import token_matches
from live2diff_cam.errors import Live2DiffError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # loopback only: the token is the only lock, the network must not see it
MAX_BODY_BYTES = 64 * 1024  # a settings change is a few hundred bytes
DRAIN_LIMIT_BYTES = 8 * 1024 * 1024  # read and drop up to this much of a refused body
REQUEST_TIMEOUT_S = 5.0


class ControlTarget(Protocol):
    """What the API drives. Methods are called from the server's request threads; each
    raises `BadRequest` for a wrong value, another `Live2DiffError` when it cannot comply."""

    def status(self) -> Status: ...

    def presets(self) -> list[dict[str, str]]:
        """[{"name": ..., "description": ...}] in gallery order."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def apply(self, change: SettingsChange) -> None: ...


class _HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck request never holds the process open at exit
    request_queue_size = 64  # the default 5 resets connections when a few clients burst

    def __init__(self, port: int, target: ControlTarget, token: str, timeout_s: float) -> None:
        self.target = target
        self.token = token
        self.request_timeout_s = timeout_s
        self.connections = 0
        self.connections_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("control API: a connection failed", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "live2diff-cam-control/1"

    def setup(self) -> None:
        # StreamRequestHandler applies `timeout` to the socket: per server, not per class.
        self.timeout = self.server.request_timeout_s
        with self.server.connections_lock:
            self.server.connections += 1
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections -= 1

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def log_message(self, format: str, *args: object) -> None:
        log.debug("control API %s: " + format, self.client_address[0], *args)

    # -- one request -------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        self._body_read = False
        try:
            if not token_matches(self.server.token, self.headers.get("Authorization")):
                raise _HttpError(
                    HTTPStatus.UNAUTHORIZED,
                    "missing or wrong token: send 'Authorization: Bearer <token>' with the "
                    "token from the control-token file (`live2diff-cam doctor` shows where)",
                    {"WWW-Authenticate": 'Bearer realm="live2diff-cam"'},
                )
            handler = self._route(method)
            self._reply(HTTPStatus.OK, handler())
        except _HttpError as error:
            self._refuse(error.status, str(error), error.headers)
        except BadRequest as error:
            self._refuse(HTTPStatus.BAD_REQUEST, str(error))
        except Live2DiffError as error:
            self._refuse(HTTPStatus.CONFLICT, str(error))
        except (TimeoutError, ConnectionError):
            log.debug("control API: client gone mid-request")
            self.close_connection = True
        except Exception as error:  # a bug must not kill the server; the client hears of it
            log.exception("control API: %s %s failed", method, self.path)
            self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}")

    def _route(self, method: str) -> Callable[[], dict[str, object]]:
        target = self.server.target
        routes: dict[str, dict[str, Callable[[], dict[str, object]]]] = {
            "/v1/status": {"GET": lambda: target.status().to_dict()},
            "/v1/presets": {"GET": lambda: {"presets": target.presets()}},
            "/v1/start": {"POST": lambda: self._act(target.start)},
            "/v1/stop": {"POST": lambda: self._act(target.stop)},
            "/v1/settings": {"POST": self._settings},
        }
        path = self.path.split("?", 1)[0]
        methods = routes.get(path)
        if methods is None:
            raise _HttpError(
                HTTPStatus.NOT_FOUND, f"no such endpoint {path}; see docs/OBS.md for the API"
            )
        if method not in methods:
            allowed = ", ".join(methods)
            raise _HttpError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{path} takes {allowed}, not {method}",
                {"Allow": allowed},
            )
        return methods[method]

    def _act(self, action: Callable[[], None]) -> dict[str, object]:
        body = self._read_body()
        if body.strip() not in (b"", b"{}"):
            raise BadRequest(f"{self.path} takes no body (or {{}})")
        action()
        return self.server.target.status().to_dict()

    def _settings(self) -> dict[str, object]:
        change = parse_settings(self._read_body())
        self.server.target.apply(change)
        return self.server.target.status().to_dict()

    # -- body and replies ----------------------------------------------------------------------

    def _declared_length(self) -> int:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        raw = self.headers.get("Content-Length", "0")
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {raw!r}")
        return length

    def _read_body(self) -> bytes:
        length = self._declared_length()
        if length > MAX_BODY_BYTES:
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body is {length} bytes; the limit is {MAX_BODY_BYTES}",
            )
        body = self.rfile.read(length)  # the socket timeout bounds the wait
        self._body_read = True
        if len(body) < length:
            raise ConnectionError("the client closed the connection mid-body")
        return body

    def _refuse(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.close_connection = True
        self._drain()
        self._reply(
            status, {"error": message.splitlines()[0] if message else status.phrase}, headers
        )

    def _drain(self) -> None:
        """Read and drop an unread body, so closing the socket does not reset the connection
        (a reset can destroy the answer before the client reads it)."""
        if self._body_read:
            return
        self._body_read = True
        try:
            left = min(self._declared_length(), DRAIN_LIMIT_BYTES)
            while left > 0:
                chunk = self.rfile.read(min(left, 64 * 1024))
                if not chunk:
                    return
                left -= len(chunk)
        except (_HttpError, OSError):
            return

    def _reply(
        self, status: HTTPStatus, payload: dict[str, object], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode("utf-8") + b"\n"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            log.debug("control API: client gone before the answer")
            self.close_connection = True


class ControlServer:
    """The control API on `127.0.0.1:port` (port 0: any free port, see `.port`).

    `start()` binds and serves on a daemon thread; `close()` stops accepting and returns.
    Raises `ControlError` when the port is taken.
    """

    def __init__(
        self,
        target: ControlTarget,
        port: int,
        token: str,
        *,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ControlError(f"--control-port must be in 1..65535, got {port}.")
        if not token:
            raise ControlError("The control API needs a non-empty token.")
        self._target = target
        self._requested_port = port
        self._token = token
        self._timeout_s = timeout_s
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._server = _Server(self._requested_port, self._target, self._token, self._timeout_s)
        except OSError as error:
            raise ControlError(
                f"Could not serve the control API on {HOST}:{self._requested_port} "
                f"({error.strerror or error}): pick another --control-port."
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="l2d-control",
            daemon=True,
        )
        self._thread.start()
        log.debug("control API on %s", self.url)

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections a request thread is serving now (tests check none is left hanging)."""
        return 0 if self._server is None else self._server.connections

    def close(self) -> None:
        """Stop serving; requests in flight end on their own (their threads are daemons)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
