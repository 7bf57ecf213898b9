"""Duplicate event ids: inside a chunk, remembered, and looked up in the store."""

from __future__ import annotations

from collections.abc import Sequence

from sendflowr.events import CanonicalEvent
from sendflowr.sink.dedup import RecentIds, drop_duplicates
from tests.unit.sink.factory import make_events


class _Lookup:
    def __init__(self, stored: set[str]) -> None:
        self.stored = stored
        self.asked: list[str] = []

    def existing(self, events: Sequence[CanonicalEvent], partition: int) -> set[str]:
        assert partition == 0
        self.asked.extend(e.event_id for e in events)
        return {e.event_id for e in events} & self.stored


def test_recent_ids_forget_the_oldest_first() -> None:
    recent = RecentIds(3)
    recent.add_many(["a", "b", "c", "d"])
    assert "a" not in recent and all(x in recent for x in "bcd") and len(recent) == 3
    off = RecentIds(0)
    off.add_many(["a"])
    assert "a" not in off


def test_drop_duplicates_within_the_chunk_recent_and_stored() -> None:
    events = make_events(6)
    recent = RecentIds(10)
    recent.add_many([events[1].event_id])
    lookup = _Lookup({events[2].event_id})
    kept, dropped = drop_duplicates([*events, events[0]], recent, lookup)
    assert kept == [events[0], *events[3:]]
    assert dropped == 3
    assert events[1].event_id not in lookup.asked  # known ones are not looked up


def test_without_lookup_only_the_chunk_and_memory_count() -> None:
    events = make_events(3)
    kept, dropped = drop_duplicates(events + events, RecentIds(10), None)
    assert kept == events and dropped == 3


def test_a_complete_memory_answers_alone_until_it_forgets() -> None:
    events = make_events(4)
    recent = RecentIds(3)
    recent.complete = True  # holds every stored id (the embedded store, loaded at start)
    lookup = _Lookup({events[0].event_id})  # would say "stored": the memory knows better
    kept, dropped = drop_duplicates(events[:2], recent, lookup)
    assert (kept, dropped, lookup.asked) == (events[:2], 0, [])
    recent.add_many(e.event_id for e in events)  # 4 ids in a memory of 3: one forgotten
    assert (
        not recent.complete
        and recent.isdisjoint(["x"])
        and not recent.isdisjoint(["x", events[3].event_id])
    )
    drop_duplicates([events[0]], recent, lookup)
    assert lookup.asked == [events[0].event_id]  # now the store is asked


def test_uuids_are_remembered_compactly_and_case_blind() -> None:
    recent = RecentIds(10)
    low = "0190f5c2-7a3b-7c4d-8e5f-0123456789ab"
    recent.add_many([low, "not-a-uuid-but-thirty-six-chars-long"])
    assert low in recent and low.upper() in recent  # one UUID, as ClickHouse stores it
    assert "not-a-uuid-but-thirty-six-chars-long" in recent
    assert "0190f5c2-7a3b-7c4d-8e5f-0123456789ac" not in recent
    assert not recent.isdisjoint([low.upper()]) and recent.isdisjoint(["b"])
