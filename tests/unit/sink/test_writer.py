"""The chunk writer: same token on retries, new token only for different rows, fallback."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from sendflowr.errors import StoreError
from sendflowr.events import CanonicalEvent
from sendflowr.sink.dedup import RecentIds
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.writer import Abandoned, ChunkWriter
from tests.unit.sink.factory import make_events


class _Store:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.inserts: list[tuple[str | None, int]] = []
        self.formats: list[str] = []

    def insert_raw(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        fmt: str,
        *,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        assert table == "email_events" and fmt in ("ArrowStream", "JSONEachRow")
        if self.failures:
            self.failures -= 1
            raise StoreError("connection refused")
        if fmt == "ArrowStream":
            rows = pa.ipc.open_stream(data).read_all().num_rows
        else:
            rows = len(data.splitlines())
        self.formats.append(fmt)
        self.inserts.append((dedup_token, rows))


class _Lookup:
    def __init__(self, stored: set[str]) -> None:
        self.stored = stored

    def existing(self, events: Sequence[CanonicalEvent], partition: int) -> set[str]:
        return {e.event_id for e in events} & self.stored


def _writer(store: _Store, lookup: _Lookup | None = None, **kw: object) -> ChunkWriter:
    return ChunkWriter(
        store,
        SinkMetrics(),
        lookup=lookup,
        recent=RecentIds(100),
        stopping=kw.pop("stopping", threading.Event()),  # type: ignore[arg-type]
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        sleep=lambda _s: None,
    )


def test_an_outage_is_retried_with_the_same_token() -> None:
    store = _Store(failures=3)
    result = _writer(store).write(make_events(5), "t:0:0-4")
    assert result.stored == 5 and store.inserts == [("t:0:0-4", 5)]


def test_stopping_during_an_outage_abandons_without_writing() -> None:
    stopping = threading.Event()
    stopping.set()
    store = _Store(failures=1)
    with pytest.raises(Abandoned):
        _writer(store, stopping=stopping).write(make_events(2), "t:0:0-1")
    assert store.inserts == []


def test_rows_dropped_by_the_lookup_get_a_token_of_their_own() -> None:
    events = make_events(4)
    store = _Store()
    result = _writer(store, _Lookup({events[0].event_id})).write(events, "t:0:0-3")
    assert result.duplicates == 1 and result.stored == 3
    token, rows = store.inserts[0]
    assert token is not None and token.startswith("t:0:0-3:") and rows == 3


def test_nothing_new_means_no_insert() -> None:
    events = make_events(2)
    store = _Store()
    result = _writer(store, _Lookup({e.event_id for e in events})).write(events, "t:0:0-1")
    assert (result.stored, result.duplicates, store.inserts) == (0, 2, [])


def test_a_value_the_table_cannot_hold_falls_back_to_rows_one_by_one() -> None:
    events = make_events(3)
    events[1].payload_size_bytes = 2**40  # slipped past validation: the writer must not stall
    store = _Store()
    result = _writer(store).write(events, "t:0:0-2")
    assert result.stored == 2
    assert [e for e, _why in result.rejected] == [events[1]]
    assert [t for t, _ in store.inserts] == [
        f"t:0:0-2:{events[0].event_id}",
        f"t:0:0-2:{events[2].event_id}",
    ]
