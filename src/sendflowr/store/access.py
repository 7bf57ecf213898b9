"""Read access to the store from a CLI process, wherever the store lives.

With a ClickHouse server, or when no ``serve`` owns the embedded folder, the
CLI opens the store itself; while ``serve`` owns it, queries go through
serve's loopback admin API instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from sendflowr.auth import read_token
from sendflowr.settings import Settings
from sendflowr.store.clickhouse import ClickHouseStore, QueryResult
from sendflowr.store.remote import RemoteQuery

__all__ = ["Queryable", "read_access"]


class Queryable(Protocol):
    """Anything that runs a query with bound parameters."""

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult: ...
    def query_text(self, sql: str, parameters: Mapping[str, Any] | None = None) -> str: ...


@contextmanager
def read_access(settings: Settings) -> Iterator[Queryable]:
    """The running serve's admin API when serve owns the embedded store, else the store itself.

    Asking serve first keeps chDB from even trying a folder another process holds.
    """
    if not settings.clickhouse_url:
        remote = RemoteQuery(f"http://127.0.0.1:{settings.admin_port}", read_token(settings.home))
        if remote.available():
            yield remote
            return
    store = ClickHouseStore(settings)
    store.start()
    try:
        yield store
    finally:
        store.stop()
