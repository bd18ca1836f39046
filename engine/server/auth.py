"""The bearer token: from EXITFLOW_TOKEN, else generated once and kept beside the database."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets

from ..errors import InputError

TOKEN_ENV = "EXITFLOW_TOKEN"


def token_path(db_path: str) -> str:
    return f"{db_path}.token"


def load_token(db_path: str) -> tuple[str, str | None]:
    """The API token and, when it was just generated, the file it was stored in (mode 0600).

    `$EXITFLOW_TOKEN` wins; else `<db>.token` is read, or created with a new random token."""
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env, None
    path = token_path(db_path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path), None
    except OSError as e:
        raise InputError(f"{path}: cannot create the API token file: {e.strerror}") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token, path


def _read(path: str) -> str:
    try:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
        with open(path, encoding="ascii") as f:
            token = f.read().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the API token file: {e}") from None
    if not token:
        raise InputError(f"{path}: the API token file is empty (delete it to make a new one)")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bearer(header: str | None, token: str) -> str | None:
    """None when the Authorization header carries the token, else why not (one line)."""
    if not header:
        return "missing bearer token (Authorization: Bearer <token>)"
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return "the Authorization header must be 'Bearer <token>'"
    if not hmac.compare_digest(value.strip().encode(), token.encode()):
        return "wrong bearer token"
    return None
