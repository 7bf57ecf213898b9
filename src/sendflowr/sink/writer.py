"""Writing one partition chunk to ClickHouse: dedup, load, retry, isolate refused rows.

``ChunkWriter.write`` returns only once ClickHouse acknowledged the rows (or
there was nothing new to write). A store outage is retried with capped
backoff on the *same* rows and token, never a second copy; ``stop`` ends the
wait without writing, and the caller then commits nothing. Rows ClickHouse
refuses as data (a value it cannot parse) are isolated by halving the chunk,
each half under a token derived from the chunk's, and returned as rejected.

A *replayed* chunk (announced before a crash, ``sink.batches``) is not trusted to its
token. ClickHouse records a block's token in the table's deduplication log before it
commits the block's part, so a process killed in between leaves the token without the
rows, and a replay under that token would be dropped as a duplicate: rows acknowledged
by Kafka, never stored. A replay is therefore checked id by id against the store (the
complete id memory, or the lookup), and the rows still missing go under a token no
earlier attempt used.

An error ClickHouse does not name as a data error is an outage, unless it repeats
(``REFUSALS_BEFORE_ISOLATING`` times, same message), is not about the system (read-only,
disk, memory, network, …: ``_SYSTEM_ERROR_NAMES``) and the store answers a trivial
query (``ping``) with its folder in place: then it is about these rows, and they are isolated
like data errors — so no record, whatever ClickHouse says about it, stalls its
partition.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Final

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.errors import Abandoned, StoreError
from sendflowr.events import CanonicalEvent
from sendflowr.sink.dedup import EventLookup, RecentIds, drop_duplicates
from sendflowr.sink.loadsql import LINE_FORMAT, LINE_SETTINGS, LINE_STRUCTURE, SELECT_FILLED
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.records import event_line
from sendflowr.store.contract import EventStore
from sendflowr.store.schema import EVENTS_TABLE

__all__ = [
    "REFUSALS_BEFORE_ISOLATING",
    "ChunkWriter",
    "WriteResult",
    "is_data_error",
]

#: Identical failures of one insert, with the store answering, that make them a refusal.
REFUSALS_BEFORE_ISOLATING: Final = 4
#: Errors about the store or the system, never about rows: retried, never isolated.
_SYSTEM_ERROR_NAMES: Final = frozenset(
    """
    READONLY TABLE_IS_READ_ONLY NOT_ENOUGH_SPACE UNKNOWN_TABLE UNKNOWN_DATABASE TABLE_IS_DROPPED
    MEMORY_LIMIT_EXCEEDED CANNOT_ALLOCATE_MEMORY TIMEOUT_EXCEEDED TOO_MANY_PARTS NETWORK_ERROR
    SOCKET_TIMEOUT ABORTED QUERY_WAS_CANCELLED CANNOT_OPEN_FILE CANNOT_CREATE_DIRECTORY
    FILE_DOESNT_EXIST DIRECTORY_DOESNT_EXIST CANNOT_WRITE_TO_FILE_DESCRIPTOR CANNOT_FSYNC
    CANNOT_RENAME ACCESS_DENIED AUTHENTICATION_FAILED TOO_MANY_SIMULTANEOUS_QUERIES
    ALL_CONNECTION_TRIES_FAILED NO_FREE_CONNECTION KEEPER_EXCEPTION LOGICAL_ERROR
    """.split()
)
#: The name given to such a refusal (counts as a data error).
_PERSISTENT: Final = "SENDFLOWR_PERSISTENT_REFUSAL"

_log = logging.getLogger("sendflowr.sink")
_event_id = attrgetter("event_id")

#: ClickHouse errors about the rows themselves: retrying the same rows cannot help.
_DATA_ERROR_NAMES: Final = frozenset(
    {
        "INCORRECT_DATA",
        "TYPE_MISMATCH",
        "ARGUMENT_OUT_OF_BOUND",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        "CANNOT_READ_ALL_DATA",
        "ATTEMPT_TO_READ_AFTER_EOF",
        "CANNOT_CONVERT_TYPE",
        "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
        "TOO_LARGE_STRING_SIZE",
        "DECIMAL_OVERFLOW",
        _PERSISTENT,
    }
)


def is_data_error(exc: StoreError) -> bool:
    """Whether ClickHouse refused the rows themselves (not an outage)."""
    name = exc.name or ""
    return name.startswith("CANNOT_PARSE") or name in _DATA_ERROR_NAMES


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


def _block(lines: Sequence[bytes]) -> bytes:
    """``lines`` (one JSON object each, no line breaks: ``DecodedChunk.lines``) as one block."""
    return b"\n".join(lines)


class ChunkWriter:
    """Writes chunks of events to ``email_events`` exactly once.

    ``lookup`` (None = off) checks the chunk's ids against the store; ``recent``
    remembers ids written by this process. A chunk travels as the JSON lines of
    its events (``sink.records.DecodedChunk.lines``) through ``sink.loadsql``'s statement.
    """

    def __init__(
        self,
        store: EventStore,
        metrics: SinkMetrics,
        *,
        lookup: EventLookup | None,
        recent: RecentIds,
        stopping: threading.Event,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] | None = None,
        max_backoff: float = 10.0,
        verify: Callable[[], str | None] | None = None,
        ping: Callable[[], bool] | None = None,
        replay_lookup: EventLookup | None = None,
    ) -> None:
        """``verify``: asked after each insert; a problem it names (e.g. the data folder was
        deleted) makes the insert count as failed, so its offsets are not committed and it
        is retried under the same token. ``ping``: whether the store answers a trivial query
        (None = never assume so: every unnamed error is an outage). ``replay_lookup``: the
        lookup that checks replayed chunks when ``lookup`` is off (None = ``lookup``)."""
        self._store = store
        self._metrics = metrics
        self._lookup = lookup
        self._recent = recent
        self._stopping = stopping
        self._clock = clock
        self._sleep = sleep or (lambda s: stopping.wait(s) and None)
        self._max_backoff = max_backoff
        self._verify = verify
        self._ping = ping
        self._replay_lookup = lookup if lookup is not None else replay_lookup

    def _retrying(self, attempt: Callable[[], Any], what: str, *, rows: bool = False) -> Any:
        """Run ``attempt`` until it succeeds; ``rows``: it writes rows, so an unnamed error that
        repeats while the store answers is raised as a refusal of those rows."""
        delay = 0.25
        last, repeats = "", 0
        while True:
            try:
                return attempt()
            except StoreError as exc:
                if is_data_error(exc):
                    raise
                self._metrics.insert_failures.inc()
                repeats = repeats + 1 if str(exc) == last else 1
                last = str(exc)
                about_rows = exc.name is not None and exc.name not in _SYSTEM_ERROR_NAMES
                if rows and about_rows and repeats >= REFUSALS_BEFORE_ISOLATING and self._answers():
                    _log.warning("%s keeps failing (%s) while the store answers", what, exc)
                    raise StoreError(str(exc), code=exc.code, name=_PERSISTENT) from exc
                if self._stopping.is_set():
                    raise Abandoned(what) from exc
                _log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                self._sleep(delay)
                if self._stopping.is_set():
                    raise Abandoned(what) from exc
                delay = min(delay * 2, self._max_backoff)

    def write(
        self,
        events: Sequence[CanonicalEvent],
        lines: Sequence[bytes],
        token: str,
        partition: int = 0,
        *,
        replay: bool = False,
    ) -> WriteResult:
        """Store ``events`` (one chunk of ``partition``; ``lines`` their JSON texts, a parallel
        list) under ``token``; ``replay``: the chunk was announced by a process that may have
        died while writing it (see the module docstring)."""
        lookup = self._replay_lookup if replay else self._lookup
        kept, duplicates = self._retrying(
            lambda: drop_duplicates(events, self._recent, lookup, partition),
            f"duplicate lookup {token}",
        )
        if not kept:
            return WriteResult(0, duplicates, [])
        if duplicates:
            keep = {id(e) for e in kept}
            lines = [line for e, line in zip(events, lines, strict=True) if id(e) in keep]
        if replay and (lookup is not None or self._recent.complete):
            # Checked against the store: these rows are missing, whatever the token log
            # says, so they go under a token of this attempt alone.
            token = f"{token}:{_digest(kept)}:replay-{uuid.uuid4().hex[:12]}"
            self._metrics.replayed_rows.inc(len(kept))
        elif duplicates and lookup is not None:
            # The rows differ from any earlier attempt's only because stored ids were
            # dropped; the lookup guards this content, so give it a token of its own.
            token = f"{token}:{_digest(kept)}"
        ingested_at = self._clock.now()
        try:
            self._insert(_block(lines), token, ingested_at)
        except StoreError as exc:
            if not is_data_error(exc):
                raise
            _log.warning("ClickHouse refused rows of %s (%s); isolating them", token, exc)
            # ClickHouse reads the events as SendFlowr decoded them (e.g. a value with a
            # key given twice is valid JSON, but not a valid JSONEachRow row), and if it
            # still refuses some, they are found by halving the chunk.
            lines = [event_line(e) for e in kept]
            try:
                self._insert(_block(lines), token, ingested_at)
            except StoreError as again:
                if not is_data_error(again):
                    raise
            else:
                self._recent.add_many(map(_event_id, kept))
                return WriteResult(len(kept), duplicates, [])
            if len(kept) == 1:
                stored, rejected = 0, [(kept[0], str(exc)[:500])]
            else:
                stored, rejected = self._isolate(kept, lines, token, ingested_at, 0, len(kept))
            refused = {id(e) for e, _ in rejected}
            self._recent.add_many(e.event_id for e in kept if id(e) not in refused)
            return WriteResult(stored, duplicates, rejected)
        self._recent.add_many(map(_event_id, kept))
        return WriteResult(len(kept), duplicates, [])

    def _isolate(
        self,
        events: Sequence[CanonicalEvent],
        lines: Sequence[bytes],
        token: str,
        ingested_at: datetime,
        lo: int,
        hi: int,
    ) -> tuple[int, list[tuple[CanonicalEvent, str]]]:
        """Write ``events[lo:hi]`` (two rows or more, refused as a whole) in halves; return
        (stored, rejected)."""
        stored = 0
        rejected: list[tuple[CanonicalEvent, str]] = []
        mid = (lo + hi) // 2
        for a, b in ((lo, mid), (mid, hi)):
            try:
                self._insert(_block(lines[a:b]), f"{token}:{a}-{b}", ingested_at)
            except StoreError as exc:
                if not is_data_error(exc):
                    raise
                if b - a == 1:
                    rejected.append((events[a], str(exc)[:500]))
                    continue
                more, refused = self._isolate(events, lines, token, ingested_at, a, b)
                stored += more
                rejected.extend(refused)
            else:
                stored += b - a
        return stored, rejected

    def _insert(self, data: bytes, token: str, ingested_at: datetime) -> None:
        def attempt() -> None:
            started = time.perf_counter()
            self._store.insert_select(
                EVENTS_TABLE,
                SELECT_FILLED,
                LINE_STRUCTURE,
                data,
                LINE_FORMAT,
                parameters={"ingested_at": ingested_at},
                dedup_token=token,
                settings=LINE_SETTINGS,
            )
            self._metrics.insert_seconds.observe(time.perf_counter() - started)
            problem = self._verify() if self._verify is not None else None
            if problem is not None:
                _log.error("insert %s is not verifiably stored: %s", token, problem)
                raise StoreError(f"not verifiably stored: {problem}")

        self._retrying(attempt, f"insert {token}", rows=True)

    def _answers(self) -> bool:
        if self._ping is None or (self._verify is not None and self._verify() is not None):
            return False
        try:
            return self._ping()
        except Exception:  # a failing ping is simply "no"
            return False
