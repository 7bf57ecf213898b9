"""Dropping events whose ``event_id`` is already stored.

A client that re-sends a batch after a 503 may publish the same event twice
at different offsets; deduplication tokens cannot see that. Three layers:
duplicates inside one chunk, a bounded memory of recently written ids, and a
ClickHouse lookup of the chunk's ids, narrowed by the chunk's recipients and
time range so the primary key (universal_id, timestamp, …) prunes the scan.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from sendflowr.events import CanonicalEvent
from sendflowr.store.clickhouse import QueryResult
from sendflowr.store.schema import quote_identifier

__all__ = ["EventLookup", "RecentIds", "StoreLookup", "drop_duplicates"]


class EventLookup(Protocol):
    """Which of some event ids (of one partition's chunk) are stored already."""

    def existing(self, events: Sequence[CanonicalEvent], partition: int) -> set[str]: ...


class _Store(Protocol):
    @property
    def database(self) -> str: ...
    @property
    def events_table(self) -> str: ...
    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None: ...
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult: ...
    def insert_raw(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        fmt: str,
        *,
        dedup_token: str | None = None,
    ) -> None: ...


class StoreLookup:
    """``EventLookup`` over the ClickHouse events table.

    The chunk's ids go to a small Memory table by an Arrow insert, then one
    query matches them with ``email_events`` (by recipients and ids, inside the
    chunk's time range). That is ~3x cheaper than binding 20,000 ids as an
    ``Array(UUID)`` parameter, whose text clickhouse-connect builds value by
    value. The table is per
    partition (``sink_ids_<scope>_<partition>``), so the one consumer that
    owns a partition is the only one using it.
    """

    def __init__(self, store: _Store, scope: str) -> None:
        self._store = store
        self._scope = f"{zlib.crc32(scope.encode()):08x}"
        self._ready: set[str] = set()

    def _table(self, partition: int) -> str:
        name = f"sink_ids_{self._scope}_{partition}"
        if name not in self._ready:
            self._store.command(
                f"CREATE TABLE IF NOT EXISTS {quote_identifier(self._store.database)}."
                f"{quote_identifier(name)} (event_id UUID, universal_id String) ENGINE = Memory"
            )
            self._ready.add(name)
        return name

    def existing(self, events: Sequence[CanonicalEvent], partition: int) -> set[str]:
        if not events:
            return set()
        name = self._table(partition)
        qualified = f"{quote_identifier(self._store.database)}.{quote_identifier(name)}"
        self._store.command(f"TRUNCATE TABLE {qualified}")
        ids = pa.Table.from_arrays(
            [
                pa.array([e.event_id for e in events], pa.string()),
                pa.array([e.universal_id for e in events], pa.string()),
            ],
            names=["event_id", "universal_id"],
        )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, ids.schema) as writer:
            writer.write_table(ids)
        self._store.insert_raw(
            name, ["event_id", "universal_id"], sink.getvalue().to_pybytes(), "ArrowStream"
        )
        first: datetime = min(e.timestamp for e in events)
        last: datetime = max(e.timestamp for e in events)
        result = self._store.query(
            f"SELECT toString(event_id) FROM {self._store.events_table} "  # noqa: S608
            "WHERE timestamp BETWEEN {first:DateTime64(3, 'UTC')} AND {last:DateTime64(3, 'UTC')} "
            f"AND universal_id IN (SELECT universal_id FROM {qualified}) "
            f"AND event_id IN (SELECT event_id FROM {qualified})",
            {"first": first, "last": last},
        )
        return {row[0] for row in result.rows}


class RecentIds:
    """A bounded set of recently written event ids (oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: dict[str, None] = {}

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add_many(self, event_ids: Iterable[str]) -> None:
        if self._capacity <= 0:
            return
        ids = self._ids
        for event_id in event_ids:
            ids[event_id] = None
        excess = len(ids) - self._capacity
        if excess > 0:
            for event_id in list(ids)[:excess]:
                del ids[event_id]


def drop_duplicates(
    events: Sequence[CanonicalEvent],
    recent: RecentIds,
    lookup: EventLookup | None,
    partition: int = 0,
) -> tuple[list[CanonicalEvent], int]:
    """``events`` without ids seen earlier in the list, recently, or in the store; and how many
    were dropped."""
    kept: list[CanonicalEvent] = []
    seen: set[str] = set()
    for event in events:
        event_id = event.event_id
        if event_id in seen or event_id in recent:
            continue
        seen.add(event_id)
        kept.append(event)
    if lookup is not None and kept:
        stored = lookup.existing(kept, partition)
        if stored:
            kept = [e for e in kept if e.event_id not in stored]
    return kept, len(events) - len(kept)
