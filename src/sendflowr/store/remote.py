"""Queries through a running ``sendflowr serve`` (its loopback admin API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from sendflowr.errors import StoreError
from sendflowr.store.clickhouse import QueryResult

__all__ = ["RemoteQuery"]


class RemoteQuery:
    """Read-only queries against the store owned by a ``serve`` process."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def available(self) -> bool:
        """True when a serve process answers on the admin port."""
        try:
            return httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run ``sql`` in the serve process (readonly) and return its rows."""
        try:
            response = httpx.post(
                f"{self.base_url}/sql",
                json={"query": sql, "parameters": dict(parameters or {})},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"serve's admin API at {self.base_url} did not answer: {exc}") from exc
        return self._rows(response)

    def query_text(self, sql: str, parameters: Mapping[str, Any] | None = None) -> str:
        """ClickHouse's own output of ``sql`` (which names its ``FORMAT``), run in serve."""
        try:
            response = httpx.post(
                f"{self.base_url}/sql",
                json={"query": sql, "parameters": dict(parameters or {}), "raw": True},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"serve's admin API at {self.base_url} did not answer: {exc}") from exc
        if response.status_code == 200:
            return response.text
        return str(self._rows(response))  # raises the store's error

    @staticmethod
    def _rows(response: httpx.Response) -> QueryResult:
        body = response.json()
        if response.status_code != 200:
            message = body.get("reason") or body.get("error") or response.text
            raise StoreError(message, code=body.get("code"), name=body.get("name"))
        return QueryResult(body["columns"], body["rows"])
