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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sendflowr.errors import StoreError
from sendflowr.events import CanonicalEvent
from sendflowr.sink.arrow import ARROW_FORMAT, columns_to_arrow
from sendflowr.sink.dedup import EventLookup, RecentIds, drop_duplicates
from sendflowr.sink.jsonrows import JSON_COLUMNS, JSON_FORMAT, JSON_SETTINGS, encode_rows
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.store.rows import events_to_columns
from sendflowr.store.schema import EVENTS_TABLE

__all__ = ["Abandoned", "ChunkWriter", "Encoded", "Inserter", "WriteResult"]

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
        settings: Mapping[str, Any] | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Encoded:
    """A chunk's JSON block (``ChunkWriter.encode``) and the ``ingested_at`` it filled in."""

    data: bytes
    ingested_at: datetime


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
    remembers ids written by this process. ``insert_format`` ``"json"`` sends a
    chunk as one JSONEachRow block (``sink.jsonrows``), ``"arrow"`` as an Arrow
    stream (``sink.arrow``); both store the same rows. A chunk that holds a value
    the client cannot encode is written row by row (Arrow), the refused rows
    returned as rejected.
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
        insert_format: Literal["json", "arrow"] = "json",
    ) -> None:
        self._json = insert_format == "json"
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

    def encode(self, events: Sequence[CanonicalEvent]) -> Encoded | None:
        """The JSON block of all ``events``, made ahead (e.g. on another thread than
        ``write``'s); None on the Arrow path or for a value that cannot be encoded."""
        if not self._json or not events:
            return None
        ingested_at = self._clock()
        try:
            return Encoded(encode_rows(events, ingested_at), ingested_at)
        except _DATA_ERRORS:
            return None

    def write(
        self,
        events: Sequence[CanonicalEvent],
        token: str,
        partition: int = 0,
        encoded: Encoded | None = None,
    ) -> WriteResult:
        """Store ``events`` (one chunk of ``partition``) under ``token``; see the class
        docstring. ``encoded`` (from ``encode(events)``) is used when no event is dropped
        as a duplicate."""
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
        ingested_at = encoded.ingested_at if encoded is not None else self._clock()
        try:
            if self._json:
                if encoded is not None and not duplicates:
                    data = encoded.data
                else:
                    data = encode_rows(kept, ingested_at)
                self._insert(JSON_COLUMNS, data, JSON_FORMAT, token, JSON_SETTINGS)
                stored = len(kept)
            else:
                stored = self._insert_arrow(events_to_columns(kept, ingested_at), token)
        except _DATA_ERRORS:
            return self._write_each(kept, token, duplicates, ingested_at)
        self._recent.add_many(e.event_id for e in kept)
        return WriteResult(stored, duplicates, [])

    def _insert_arrow(self, columns: dict[str, list[Any]], token: str) -> int:
        names = list(columns)
        self._insert(names, columns_to_arrow(columns), ARROW_FORMAT, token, None)
        return len(columns[names[0]]) if names else 0

    def _insert(
        self,
        names: Sequence[str],
        data: bytes,
        fmt: str,
        token: str,
        settings: Mapping[str, Any] | None,
    ) -> None:
        def attempt() -> None:
            started = time.perf_counter()
            self._store.insert_raw(
                EVENTS_TABLE, names, data, fmt, dedup_token=token, settings=settings
            )
            self._metrics.insert_seconds.observe(time.perf_counter() - started)

        self._retrying(attempt, f"insert {token}")

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
                stored += self._insert_arrow(columns, f"{token}:{event.event_id}")
            except _DATA_ERRORS as exc:
                rejected.append((event, f"{type(exc).__name__}: {exc}"[:500]))
                continue
            self._recent.add_many([event.event_id])
        return WriteResult(stored, duplicates, rejected)
