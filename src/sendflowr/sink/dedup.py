"""Dropping events whose ``event_id`` is already stored.

A client that re-sends a batch after a 503 may publish the same event twice
at different offsets; deduplication tokens cannot see that. Three layers:
duplicates inside one chunk, a bounded memory of written ids, and a
ClickHouse lookup of the chunk's ids, narrowed by the chunk's recipients and
time range so the primary key (universal_id, timestamp, …) prunes the scan.

With the embedded engine the sink is the only writer of the events table
(the engine's folder is locked to this process), so the memory can hold
*every* stored id: it is loaded from the table when a sink starts and shared
by the sinks of the process. While it is complete, an id it lacks is not
stored, and the ClickHouse lookup is skipped; once the table outgrows the
memory, the lookup checks what the memory does not know.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from operator import attrgetter
from typing import Protocol

import pyarrow as pa

from sendflowr.events import CanonicalEvent
from sendflowr.store.clickhouse import ClickHouseStore
from sendflowr.store.contract import EventStore
from sendflowr.store.schema import quote_identifier

__all__ = [
    "EventLookup",
    "RecentIds",
    "StoreLookup",
    "drop_duplicates",
    "forget_recent_ids",
    "shared_recent_ids",
]

_log = logging.getLogger("sendflowr.sink")
_event_id = attrgetter("event_id")


class EventLookup(Protocol):
    """Which of some event ids (of one partition's chunk) are stored already."""

    def existing(self, events: Sequence[CanonicalEvent], partition: int) -> set[str]: ...


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

    def __init__(self, store: EventStore, scope: str) -> None:
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


def _id_key(event_id: str) -> int | str:
    """The memory's key of an event id: a UUID as its 128-bit integer (~90 B an id held,
    against ~230 B as text; the same UUID in any case is one key, as in ClickHouse's
    ``UUID`` column); anything else as itself."""
    try:
        return int(event_id.replace("-", ""), 16) if len(event_id) == _UUID_TEXT else event_id
    except ValueError:
        return event_id


_UUID_TEXT = 36


class RecentIds:
    """A bounded set of written event ids (oldest forgotten first).

    ``complete`` says the set holds every id of the events table (see the module
    docstring); forgetting an id ends that. UUIDs are held as integers (``_id_key``),
    so the default million ids cost ~90 MB of the sink's memory.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: dict[int | str, None] = {}
        self._lock = threading.Lock()
        self.complete = False

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and _id_key(event_id) in self._ids

    def isdisjoint(self, event_ids: Iterable[str]) -> bool:
        """Whether none of ``event_ids`` is held."""
        return self._ids.keys().isdisjoint(map(_id_key, event_ids))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def capacity(self) -> int:
        """Most ids held."""
        return self._capacity

    def add_many(self, event_ids: Iterable[str]) -> None:
        if self._capacity <= 0:
            self.complete = False
            return
        with self._lock:
            ids = self._ids
            ids.update(dict.fromkeys(map(_id_key, event_ids)))
            excess = len(ids) - self._capacity
            if excess > 0:
                self.complete = False
                for key in list(islice(ids, excess)):
                    del ids[key]


_shared: dict[str, RecentIds] = {}
_shared_lock = threading.Lock()


def shared_recent_ids(store: ClickHouseStore, capacity: int) -> RecentIds:
    """The id memory of ``store``'s events table: for the embedded engine, one per table in
    this process, loaded with every stored id when the table fits (then ``complete``);
    for a server, a new empty memory (other processes write there too)."""
    if not store.embedded:
        return RecentIds(capacity)
    with _shared_lock:
        key = f"{store.engine_key}/{store.events_table}"
        found = _shared.get(key)
        if found is not None and found.capacity == capacity:
            return found
        memory = RecentIds(capacity)
        stored = int(store.query(f"SELECT count() FROM {store.events_table}").scalar())  # noqa: S608
        if stored <= capacity:
            ids = store.query(f"SELECT toString(event_id) FROM {store.events_table}").rows  # noqa: S608
            memory.add_many(row[0] for row in ids)
            memory.complete = capacity > 0
        _log.info(
            "id memory of %s: %d of %d stored ids%s",
            store.events_table,
            len(memory),
            stored,
            " (complete: no store lookups)" if memory.complete else "",
        )
        _shared[key] = memory
        return memory


def forget_recent_ids(store: ClickHouseStore) -> None:
    """Drop this process's id memory of ``store``'s events table (the table is new: the ids
    it remembered were stored in one that is gone)."""
    with _shared_lock:
        _shared.pop(f"{store.engine_key}/{store.events_table}", None)


def drop_duplicates(
    events: Sequence[CanonicalEvent],
    recent: RecentIds,
    lookup: EventLookup | None,
    partition: int = 0,
) -> tuple[list[CanonicalEvent], int]:
    """``events`` without ids seen earlier in the list, recently, or in the store; and how many
    were dropped."""
    ids = list(map(_event_id, events))
    kept: list[CanonicalEvent]
    if len(set(ids)) == len(ids) and recent.isdisjoint(ids):
        kept = list(events)  # the common case, tested in C
    else:
        kept = []
        seen: set[str] = set()
        for event_id, event in zip(ids, events, strict=True):
            if event_id in seen or event_id in recent:
                continue
            seen.add(event_id)
            kept.append(event)
    if lookup is not None and kept and not recent.complete:
        stored = lookup.existing(kept, partition)
        if stored:
            kept = [e for e in kept if e.event_id not in stored]
    return kept, len(events) - len(kept)
