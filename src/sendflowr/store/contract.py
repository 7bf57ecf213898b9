"""The store contract: what the sink and its lookups need of ClickHouse.

``ClickHouseStore`` is the real one (embedded chDB or a server); ``MemoryStore``
(``store.memory``) is the in-memory double for unit tests of pure logic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sendflowr.store.clickhouse import QueryResult

__all__ = ["EventStore"]


class EventStore(Protocol):
    """Commands, queries and the two insert forms the sink uses, on one database."""

    @property
    def database(self) -> str:
        """The database every unqualified table name lives in."""
        ...

    @property
    def events_table(self) -> str:
        """The qualified name of the events table."""
        ...

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        ...

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a query with bound parameters."""
        ...

    def insert_raw(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        fmt: str,
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert ``data`` already encoded in input format ``fmt`` into ``table``."""
        ...

    def insert_select(
        self,
        table: str,
        select: str,
        structure: str,
        data: bytes,
        fmt: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``INSERT INTO table <select>`` where ``select`` reads ``data`` (``{source}``).

        With ``dedup_token`` a replay of the same block adds no rows.
        """
        ...
