"""The API key that guards write endpoints when ``SENDFLOWR_API_KEY`` is set."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from sendflowr.errors import Unauthorized

__all__ = ["check_api_key"]


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
