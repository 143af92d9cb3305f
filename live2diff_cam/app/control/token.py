"""The control API's bearer token: random, kept in `control-token` in the config directory.

Created on first use with owner-only permissions (0600 where the OS has them), through a
temporary file and a rename so no reader ever sees half a token. This module knows nothing
about HTTP.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from live2diff_cam.app.settings import config_dir

TOKEN_FILE = "control-token"
TOKEN_BYTES = 32


def token_path() -> Path:
    return config_dir() / TOKEN_FILE


def load_or_create_token(path: Path | None = None) -> str:
    """The token in `path` (default: `token_path()`); a new random one if the file is absent
    or empty."""
    path = token_path() if path is None else path
    if path.is_file():
        token = path.read_text("ascii").strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    # O_EXCL + mode 0600: the file is private from its first byte, not chmod-ed afterwards.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(token + "\n")
    os.replace(temporary, path)
    return token


def token_matches(expected: str, header: str | None) -> bool:
    """Whether an `Authorization` header carries `Bearer <expected>`, compared in constant
    time (the length of a wrong token leaks nothing useful: it is fixed)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))
