"""Queries through a running ``sendflowr serve`` (its loopback admin API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from sendflowr.errors import StoreError, Unauthorized, ValidationError
from sendflowr.store.clickhouse import QueryResult

__all__ = ["RemoteQuery"]


class RemoteQuery:
    """Read-only queries against the store owned by a ``serve`` process."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 60.0) -> None:
        """``token``: serve's admin token (``sendflowr.auth.read_token``)."""
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def available(self) -> bool:
        """True when a serve process answers on the admin port."""
        try:
            return httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def query_text(self, sql: str, parameters: Mapping[str, Any] | None = None) -> str:
        """ClickHouse's own output of ``sql`` (which names its ``FORMAT``), run in serve;
        the same errors as ``query``."""
        response = self._post(sql, parameters, raw=True)
        if response.status_code != 200:
            raise self._error(response)
        return response.text

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run ``sql`` in the serve process (confined, read-only) and return its rows.

        Raises ``Unauthorized`` (no or wrong token), ``ValidationError`` (refused by the
        policy; nothing ran) or ``StoreError``."""
        response = self._post(sql, parameters, raw=False)
        if response.status_code != 200:
            raise self._error(response)
        body = response.json()
        return QueryResult(body["columns"], body["rows"])

    def _post(self, sql: str, parameters: Mapping[str, Any] | None, *, raw: bool) -> httpx.Response:
        try:
            return httpx.post(
                f"{self.base_url}/sql",
                json={"query": sql, "parameters": dict(parameters or {}), "raw": raw},
                headers={"Authorization": f"Bearer {self._token}"} if self._token else {},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"serve's admin API at {self.base_url} did not answer: {exc}") from exc

    @staticmethod
    def _error(response: httpx.Response) -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = {}
        reason = body.get("reason") or body.get("error") or response.text
        if response.status_code == 401:
            return Unauthorized(body.get("field", "Authorization"), reason)
        if response.status_code in (403, 422):
            return ValidationError(body.get("field", "query"), reason)
        return StoreError(reason, code=body.get("code"), name=body.get("name"))
