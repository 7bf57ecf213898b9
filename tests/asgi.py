"""A synchronous client for an ASGI app with its lifespan running (no server, no warnings)."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from fastapi import FastAPI


class AppClient:
    """Runs ``app``'s lifespan on a private event loop and sends requests through it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._lifespan: AbstractAsyncContextManager[Any] = app.router.lifespan_context(app)
        self.loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://app.test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; returns the response."""
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def gather(self, *calls: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
        """Several requests concurrently: ``(method, url, kwargs)`` each."""

        async def run() -> list[httpx.Response]:
            return list(
                await asyncio.gather(*(self.client.request(m, u, **kw) for m, u, kw in calls))
            )

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        """Close the client, end the lifespan and the loop."""
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.close()
