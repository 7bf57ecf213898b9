from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sendflowr.connector import MemoryPublisher, create_app
from sendflowr.settings import Settings
from tests.asgi import AppClient


@pytest.fixture
def publisher() -> MemoryPublisher:
    """The in-memory stand-in for Kafka."""
    return MemoryPublisher()


@pytest.fixture
def make_client(tmp_path: Path, publisher: MemoryPublisher) -> Iterator[Callable[..., AppClient]]:
    """Build a connector app on a temp home (SQLite identity store, mock endpoints on) and
    a client for it."""
    clients: list[AppClient] = []

    def build(**overrides: Any) -> AppClient:
        settings = Settings(home=tmp_path, **{"mock_endpoints": True, **overrides})
        client = AppClient(create_app(settings, publisher=publisher))
        # Every request of these tests is JSON unless it says otherwise.
        client.client.headers["content-type"] = "application/json"
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., AppClient]) -> AppClient:
    """A connector with default settings (no API key, no webhook secrets)."""
    return make_client()
