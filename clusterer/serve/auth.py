"""The service's bearer token: read from a file, required for any host but loopback,
compared in constant time."""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path

from ..errors import ServeError

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str | Path) -> str:
    """The token in ``path`` (its first line, spaces stripped). ServeError for a file
    that cannot be read or holds no token."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.strip().splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise ServeError(f"the token file {path} is empty; put the bearer token on its first line")
    if any(c.isspace() for c in token):
        raise ServeError(f"the token in {path} holds a space; a bearer token is one word")
    return token


def check_host(host: str, token: str | None) -> None:
    """ServeError when the service would listen beyond this machine without a token."""
    if token is None and not is_loopback(host):
        raise ServeError(
            f"--host {host} is reachable from other machines: give --token-file, or listen on 127.0.0.1 "
            "behind a reverse proxy"
        )


def authorised(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (any request does when there is none)."""
    if token is None:
        return True
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
