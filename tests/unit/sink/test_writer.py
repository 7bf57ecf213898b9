"""The chunk writer: same token on retries, new token only for different rows, refused rows."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from sendflowr.clock import ManualClock
from sendflowr.errors import Abandoned
from sendflowr.events import CanonicalEvent, encode_event
from sendflowr.sink.dedup import RecentIds
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.writer import ChunkWriter
from sendflowr.store.memory import MemoryStore
from tests.unit.sink.factory import make_events


def _inserts(store: MemoryStore) -> list[tuple[str | None, int]]:
    """(token, rows) of each insert, each read through the load statement."""
    for i in store.inserts:
        assert i.table == "email_events" and i.fmt == "JSONEachRow" and "{source}" in i.select
        assert "ingested_at" in i.parameters
    return [(i.dedup_token, i.rows) for i in store.inserts]


class _Lookup:
    def __init__(self, stored: set[str]) -> None:
        self.stored = stored

    def existing(self, events: Sequence[CanonicalEvent], partition: int) -> set[str]:
        return {e.event_id for e in events} & self.stored


def _lines(events: list[CanonicalEvent]) -> list[bytes]:
    return [encode_event(e) for e in events]


def _writer(store: MemoryStore, lookup: _Lookup | None = None, **kw: object) -> ChunkWriter:
    return ChunkWriter(
        store,
        SinkMetrics(),
        lookup=lookup,
        recent=kw.pop("recent", RecentIds(100)),  # type: ignore[arg-type]
        stopping=kw.pop("stopping", threading.Event()),  # type: ignore[arg-type]
        clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)),
        sleep=lambda _s: None,
        verify=kw.pop("verify", None),  # type: ignore[arg-type]
        ping=kw.pop("ping", None),  # type: ignore[arg-type]
        replay_lookup=kw.pop("replay_lookup", None),  # type: ignore[arg-type]
    )


def test_an_outage_is_retried_with_the_same_token() -> None:
    store = MemoryStore(failures=3)
    events = make_events(5)
    result = _writer(store).write(events, _lines(events), "t:0:0-4")
    assert result.stored == 5 and _inserts(store) == [("t:0:0-4", 5)]


def test_stopping_during_an_outage_abandons_without_writing() -> None:
    stopping = threading.Event()
    stopping.set()
    store = MemoryStore(failures=1)
    with pytest.raises(Abandoned):
        events = make_events(2)
        _writer(store, stopping=stopping).write(events, _lines(events), "t:0:0-1")
    assert _inserts(store) == []


def test_rows_dropped_by_the_lookup_get_a_token_of_their_own() -> None:
    events = make_events(4)
    store = MemoryStore()
    result = _writer(store, _Lookup({events[0].event_id})).write(events, _lines(events), "t:0:0-3")
    assert result.duplicates == 1 and result.stored == 3
    token, rows = _inserts(store)[0]
    assert token is not None and token.startswith("t:0:0-3:") and rows == 3


def test_nothing_new_means_no_insert() -> None:
    events = make_events(2)
    store = MemoryStore()
    lookup = _Lookup({e.event_id for e in events})
    result = _writer(store, lookup).write(events, _lines(events), "t:0:0-1")
    assert (result.stored, result.duplicates, _inserts(store)) == (0, 2, [])


def test_rows_the_store_refuses_are_isolated_and_the_rest_stored() -> None:
    events = make_events(7)
    lines = _lines(events)
    bad = [events[2].event_id.encode(), events[5].event_id.encode()]
    store = MemoryStore(refused=tuple(bad))
    result = _writer(store).write(events, lines, "t:0:0-6")
    assert result.stored == 5
    assert [e for e, _why in result.rejected] == [events[2], events[5]]
    assert all("Cannot parse" in why for _e, why in result.rejected)
    # Halves under tokens derived from the chunk's: a replay cuts the same halves.
    assert sum(rows for _t, rows in _inserts(store)) == 5
    assert all(t is not None and t.startswith("t:0:0-6:") for t, _ in _inserts(store))
    again = MemoryStore(refused=tuple(bad))
    _writer(again).write(events, lines, "t:0:0-6")
    assert _inserts(again) == _inserts(store)


def test_a_line_the_store_cannot_read_as_sent_is_read_as_decoded() -> None:
    events = make_events(3)
    lines = _lines(events)
    # Valid JSON that JSONEachRow refuses: the same key twice.
    lines[1] = lines[1][:-1] + b',"esp":"klaviyo"}'
    store = MemoryStore(refused=(b'"esp":"klaviyo"}',))
    result = _writer(store).write(events, lines, "t:0:0-2")
    assert (result.stored, result.rejected) == (3, [])
    assert _inserts(store) == [("t:0:0-2", 3)]


def test_an_outage_is_not_mistaken_for_refused_rows() -> None:
    store = MemoryStore(failures=2)
    events = make_events(3)
    result = _writer(store).write(events, _lines(events), "t:0:0-2")
    assert (result.stored, result.rejected, _inserts(store)) == (3, [], [("t:0:0-2", 3)])


def test_an_insert_into_a_vanished_folder_is_retried_under_its_token_not_settled() -> None:
    store = MemoryStore()
    answers = ["the ClickHouse data folder x is missing", None]
    events = make_events(3)
    result = _writer(store, verify=lambda: answers.pop(0)).write(events, _lines(events), "t:0:0-2")
    # The first insert was not verifiably stored: written again (same token), then settled.
    assert _inserts(store) == [("t:0:0-2", 3), ("t:0:0-2", 3)]
    assert result.stored == 3 and not answers


def test_a_folder_that_stays_gone_never_settles_the_chunk() -> None:
    stopping = threading.Event()
    calls: list[int] = []

    def gone() -> str:
        calls.append(1)
        if len(calls) == 3:
            stopping.set()  # SIGTERM while the folder is gone
        return "the ClickHouse data folder x is missing"

    events = make_events(2)
    with pytest.raises(Abandoned):
        _writer(MemoryStore(), stopping=stopping, verify=gone).write(
            events, _lines(events), "t:0:0-1"
        )


def _odd_events() -> tuple[list[CanonicalEvent], list[bytes]]:
    events = make_events(8)
    events[5].subject = "ODD-ROW"
    return events, _lines(events)


def test_an_unnamed_refusal_that_repeats_while_the_store_answers_is_isolated() -> None:
    store = MemoryStore(odd=(b"ODD-ROW",))
    events, lines = _odd_events()
    result = _writer(store, ping=lambda: True).write(events, lines, "t:0:0-7")
    assert result.stored == 7
    assert [e.event_id for e, _ in result.rejected] == [events[5].event_id]


def _never_isolated(store: MemoryStore, ping: bool) -> None:
    stopping = threading.Event()
    events, lines = _odd_events()
    writer = _writer(store, ping=lambda: ping, stopping=stopping)
    writer._sleep = lambda _s: stopping.set() if store.attempts >= 12 else None  # type: ignore[method-assign]
    with pytest.raises(Abandoned):
        writer.write(events, lines, "t:0:0-7")
    assert _inserts(store) == []  # retried as a whole, never halved


def test_an_unnamed_failure_while_the_store_does_not_answer_is_an_outage() -> None:
    _never_isolated(MemoryStore(odd=(b"ODD-ROW",)), ping=False)


def test_a_read_only_store_is_an_outage_even_while_it_answers() -> None:
    _never_isolated(MemoryStore(odd=(b"ODD-ROW",), odd_name="READONLY"), ping=True)


# A replay after a crash: ClickHouse may hold the chunk's token without its rows (the
# token is logged just before the part is committed), so the token cannot be trusted.


def test_a_replay_whose_rows_are_missing_is_written_under_a_token_of_its_own() -> None:
    events = make_events(4)
    store = MemoryStore()
    writer = _writer(store, replay_lookup=_Lookup(set()))
    result = writer.write(events, _lines(events), "t:0:0-3", replay=True)
    assert (result.stored, result.duplicates) == (4, 0)
    [(token, rows)] = _inserts(store)
    assert token is not None and token.startswith("t:0:0-3:") and token != "t:0:0-3"
    assert rows == 4
    assert writer._metrics.replayed_rows._value.get() == 4
    # A second replay (the first one's process died before its part was committed, too)
    # gets yet another token.
    _writer(store, replay_lookup=_Lookup(set())).write(
        events, _lines(events), "t:0:0-3", replay=True
    )
    assert len({t for t, _ in _inserts(store)}) == 2


def test_a_replay_writes_only_the_rows_the_store_lacks() -> None:
    events = make_events(5)
    store = MemoryStore()
    lookup = _Lookup({events[0].event_id, events[3].event_id})
    result = _writer(store, replay_lookup=lookup).write(
        events, _lines(events), "t:0:0-4", replay=True
    )
    assert (result.stored, result.duplicates) == (3, 2)
    [(token, rows)] = _inserts(store)
    assert rows == 3 and token is not None and token.startswith("t:0:0-4:")
    ids = {e.event_id for e in events} - lookup.stored
    assert {line for line in store.inserts[0].data.splitlines()} == {
        line for e, line in zip(events, _lines(events), strict=True) if e.event_id in ids
    }


def test_a_replay_the_store_holds_whole_writes_nothing() -> None:
    events = make_events(3)
    store = MemoryStore()
    lookup = _Lookup({e.event_id for e in events})
    result = _writer(store, replay_lookup=lookup).write(
        events, _lines(events), "t:0:0-2", replay=True
    )
    assert (result.stored, result.duplicates, _inserts(store)) == (0, 3, [])


def test_a_fresh_chunk_is_not_checked_by_the_replay_lookup() -> None:
    events = make_events(3)
    store = MemoryStore()
    lookup = _Lookup({e.event_id for e in events})  # would drop them all
    result = _writer(store, replay_lookup=lookup).write(events, _lines(events), "t:0:0-2")
    assert result.stored == 3 and _inserts(store) == [("t:0:0-2", 3)]


def test_a_complete_id_memory_checks_a_replay_without_a_lookup() -> None:
    events = make_events(3)
    recent = RecentIds(100)
    recent.add_many([events[1].event_id])
    recent.complete = True
    store = MemoryStore()
    result = _writer(store, recent=recent).write(events, _lines(events), "t:0:0-2", replay=True)
    assert (result.stored, result.duplicates) == (2, 1)
    [(token, rows)] = _inserts(store)
    assert rows == 2 and token is not None and token.startswith("t:0:0-2:")


def test_an_unchecked_replay_keeps_its_token() -> None:
    # No lookup and an incomplete memory: nothing says which rows are stored, so a new token
    # could store them twice; the chunk's own token is the only guard left.
    events = make_events(3)
    store = MemoryStore()
    result = _writer(store).write(events, _lines(events), "t:0:0-2", replay=True)
    assert result.stored == 3 and _inserts(store) == [("t:0:0-2", 3)]
