"""Writing one partition chunk to ClickHouse: dedup, columns, insert, retry.

``ChunkWriter.write`` returns only once ClickHouse acknowledged the rows (or
there was nothing new to write). A store outage is retried with capped
backoff on the *same* rows and token, never a second copy; ``stop`` ends the
wait without writing, and the caller then commits nothing.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sendflowr.errors import StoreError
from sendflowr.events import CanonicalEvent
from sendflowr.sink.arrow import ARROW_FORMAT, columns_to_arrow
from sendflowr.sink.dedup import EventLookup, RecentIds, drop_duplicates
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.store.rows import events_to_columns
from sendflowr.store.schema import EVENTS_TABLE

__all__ = ["Abandoned", "ChunkWriter", "Inserter", "WriteResult"]

_log = logging.getLogger("sendflowr.sink")
_DATA_ERRORS = (ValueError, TypeError, OverflowError, struct.error)


class Inserter(Protocol):
    """The store method the writer needs."""

    def insert_raw(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        fmt: str,
        *,
        dedup_token: str | None = None,
    ) -> None: ...


class Abandoned(Exception):
    """The writer stopped waiting for the store because the sink is stopping."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of one chunk: rows written, duplicates dropped, events the store refused."""

    stored: int
    duplicates: int
    rejected: list[tuple[CanonicalEvent, str]]


def _digest(events: Sequence[CanonicalEvent]) -> str:
    h = hashlib.blake2b(digest_size=8)
    for event in events:
        h.update(event.event_id.encode())
    return h.hexdigest()


class ChunkWriter:
    """Writes chunks of canonical events to ``email_events`` exactly once.

    ``lookup`` (None = off) checks the chunk's ids against the store; ``recent``
    remembers ids written by this process.
    """

    def __init__(
        self,
        store: Inserter,
        metrics: SinkMetrics,
        *,
        lookup: EventLookup | None,
        recent: RecentIds,
        stopping: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] | None = None,
        max_backoff: float = 10.0,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._lookup = lookup
        self._recent = recent
        self._stopping = stopping
        self._clock = clock
        self._sleep = sleep or (lambda s: stopping.wait(s) and None)
        self._max_backoff = max_backoff

    def _retrying(self, attempt: Callable[[], Any], what: str) -> Any:
        delay = 0.25
        while True:
            try:
                return attempt()
            except StoreError as exc:
                self._metrics.insert_failures.inc()
                if self._stopping.is_set():
                    raise Abandoned(what) from exc
                _log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                self._sleep(delay)
                if self._stopping.is_set():
                    raise Abandoned(what) from exc
                delay = min(delay * 2, self._max_backoff)

    def write(
        self, events: Sequence[CanonicalEvent], token: str, partition: int = 0
    ) -> WriteResult:
        """Store ``events`` (one chunk of ``partition``) under ``token``; see the class
        docstring."""
        lookup = self._lookup
        kept, duplicates = self._retrying(
            lambda: drop_duplicates(events, self._recent, lookup, partition),
            f"duplicate lookup {token}",
        )
        if not kept:
            return WriteResult(0, duplicates, [])
        if lookup is not None and duplicates:
            # The rows differ from any earlier attempt's only because stored ids were
            # dropped; the lookup guards this content, so give it a token of its own.
            token = f"{token}:{_digest(kept)}"
        ingested_at = self._clock()
        try:
            columns = events_to_columns(kept, ingested_at)
            stored = self._insert(columns, token)
        except _DATA_ERRORS:
            return self._write_each(kept, token, duplicates, ingested_at)
        self._recent.add_many(e.event_id for e in kept)
        return WriteResult(stored, duplicates, [])

    def _insert(self, columns: dict[str, list[Any]], token: str) -> int:
        data = columns_to_arrow(columns)
        names = list(columns)

        def attempt() -> None:
            started = time.perf_counter()
            self._store.insert_raw(EVENTS_TABLE, names, data, ARROW_FORMAT, dedup_token=token)
            self._metrics.insert_seconds.observe(time.perf_counter() - started)

        self._retrying(attempt, f"insert {token}")
        return len(columns[names[0]]) if names else 0

    def _write_each(
        self,
        events: Sequence[CanonicalEvent],
        token: str,
        duplicates: int,
        ingested_at: datetime,
    ) -> WriteResult:
        """Fallback when the client refuses a value: rows one by one, the refused to the DLQ."""
        stored = 0
        rejected: list[tuple[CanonicalEvent, str]] = []
        for event in events:
            try:
                columns = events_to_columns([event], ingested_at)
                stored += self._insert(columns, f"{token}:{event.event_id}")
            except _DATA_ERRORS as exc:
                rejected.append((event, f"{type(exc).__name__}: {exc}"[:500]))
                continue
            self._recent.add_many([event.event_id])
        return WriteResult(stored, duplicates, rejected)
