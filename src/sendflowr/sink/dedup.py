"""Dropping events whose ``event_id`` is already stored.

A client that re-sends a batch after a 503 may publish the same event twice
at different offsets; deduplication tokens cannot see that. Three layers:
duplicates inside one chunk, a bounded memory of recently written ids, and a
ClickHouse lookup of the chunk's ids (bound ``Array(UUID)``, narrowed by the
chunk's time range so the primary key and partitions prune the scan).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sendflowr.events import CanonicalEvent
from sendflowr.store.clickhouse import QueryResult

__all__ = ["EventLookup", "RecentIds", "StoreLookup", "drop_duplicates", "uuid_number"]

_LOW64 = (1 << 64) - 1


class EventLookup(Protocol):
    """Which of some event ids are stored already."""

    def existing(self, events: Sequence[CanonicalEvent]) -> set[str]: ...


class _Queryable(Protocol):
    @property
    def events_table(self) -> str: ...
    def query(self, sql: str, parameters: dict[str, object] | None = None) -> QueryResult: ...


class StoreLookup:
    """``EventLookup`` over the ClickHouse events table."""

    def __init__(self, store: _Queryable) -> None:
        self._store = store

    def existing(self, events: Sequence[CanonicalEvent]) -> set[str]:
        if not events:
            return set()
        first: datetime = min(e.timestamp for e in events)
        last: datetime = max(e.timestamp for e in events)
        # Ids travel as UInt128 numbers: ClickHouse parses a long list of numbers
        # about twice as fast as the same list of quoted UUIDs.
        by_number = {uuid_number(e.event_id): e.event_id for e in events}
        sql = (
            f"SELECT reinterpretAsUInt128(event_id) FROM {self._store.events_table} "  # noqa: S608
            "WHERE timestamp BETWEEN {first:DateTime64(3, 'UTC')} AND {last:DateTime64(3, 'UTC')} "
            "AND reinterpretAsUInt128(event_id) IN {ids:Array(UInt128)}"
        )
        result = self._store.query(sql, {"first": first, "last": last, "ids": list(by_number)})
        return {by_number[row[0]] for row in result.rows if row[0] in by_number}


def uuid_number(event_id: str) -> int:
    """``reinterpretAsUInt128(toUUID(event_id))`` computed in Python (halves swapped)."""
    value = int(event_id.replace("-", ""), 16)
    return ((value & _LOW64) << 64) | (value >> 64)


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
        stored = lookup.existing(kept)
        if stored:
            kept = [e for e in kept if e.event_id not in stored]
    return kept, len(events) - len(kept)
