"""Credentials: the API key of the HTTP roles and the admin token of ``serve``.

- ``SENDFLOWR_API_KEY``, when set, guards every endpoint that reads or writes
  recipient data (``X-API-Key: K`` or ``Authorization: Bearer K``).
- The admin token is made fresh by each ``serve`` start, kept in
  ``SENDFLOWR_HOME/admin.token`` readable by its user only (0600), and sent by the
  CLI as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from sendflowr.errors import Unauthorized

__all__ = ["check_api_key", "check_bearer", "issue_token", "read_token", "token_path"]

_TOKEN_FILE = "admin.token"


def token_path(home: Path) -> Path:
    """Where ``serve`` keeps its admin token."""
    return home / _TOKEN_FILE


def issue_token(home: Path) -> str:
    """A fresh random token written to ``token_path(home)`` with mode 0600 (replacing any old one).

    The file is created under a temporary name with 0600 from its first byte and
    renamed into place, so it is never readable by others, not even briefly.
    """
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    final = token_path(home)
    staging = final.with_name(f".{final.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode())
    finally:
        os.close(fd)
    os.replace(staging, final)
    return token


def read_token(home: Path) -> str | None:
    """The admin token ``serve`` wrote, or None when there is none (or it is unreadable)."""
    try:
        return token_path(home).read_text().strip() or None
    except OSError:
        return None


def check_bearer(headers: Mapping[str, str], token: str) -> None:
    """Accept only ``Authorization: Bearer <token>``; raise ``Unauthorized`` otherwise."""
    auth = headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized(
            "Authorization", "missing or wrong admin token (SENDFLOWR_HOME/admin.token)"
        )


def check_api_key(headers: Mapping[str, str], api_key: str | None) -> None:
    """Accept ``X-API-Key: K`` or ``Authorization: Bearer K``; raise ``Unauthorized`` otherwise.

    With no key configured every request passes. The compare is constant-time.
    """
    if api_key is None:
        return
    given = headers.get("x-api-key", "")
    auth = headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        raise Unauthorized("X-API-Key", "missing or wrong API key")
