"""Chunk boundaries: by size, by time, and exactly at an announced replay end."""

from __future__ import annotations

from sendflowr.sink.batches import PartitionBuffer, dedup_token, intent_metadata, parse_intent
from tests.unit.sink.factory import FakeRecord


def _buffer(offsets: range, *replay_ends: int) -> PartitionBuffer[FakeRecord]:
    buffer: PartitionBuffer[FakeRecord] = PartitionBuffer("t", 1, replay_ends=list(replay_ends))
    for offset in offsets:
        buffer.add(FakeRecord(b"{}", offset, _partition=1), now=10.0)
    return buffer


def test_intent_metadata_round_trips_and_ignores_foreign_metadata() -> None:
    assert parse_intent(intent_metadata([1234])) == [1234]
    assert parse_intent(intent_metadata([10, 19, 42])) == [10, 19, 42]
    assert parse_intent("") == [] and parse_intent(None) == []
    assert parse_intent("someone else's note") == []
    assert parse_intent("sendflowr-sink:end=1,,2") == []


def test_token_names_topic_partition_and_offset_range() -> None:
    assert dedup_token("email-events", 2, 100, 199) == "email-events:2:100-199"


def test_a_full_buffer_is_cut_at_the_batch_size() -> None:
    buffer = _buffer(range(0, 25))
    assert buffer.ready(batch_size=10, max_wait=5, now=10.0, position=None)
    chunk = buffer.cut(10)
    assert chunk is not None and (chunk.start, chunk.end, chunk.replay) == (0, 9, False)
    assert chunk.token == "t:1:0-9"
    assert len(buffer) == 15


def test_a_small_buffer_waits_for_max_wait() -> None:
    buffer = _buffer(range(0, 3))
    assert not buffer.ready(batch_size=10, max_wait=5, now=14.9, position=None)
    assert buffer.ready(batch_size=10, max_wait=5, now=15.0, position=None)


def test_a_replay_ends_exactly_at_the_announced_offset_whatever_the_batch_size() -> None:
    buffer = _buffer(range(100, 180), 149)
    assert buffer.ready(batch_size=10, max_wait=5, now=10.0, position=None)
    chunk = buffer.cut(batch_size=10)
    assert chunk is not None and (chunk.start, chunk.end, chunk.replay) == (100, 149, True)
    assert buffer.replay_end is None and len(buffer) == 30
    following = buffer.cut(batch_size=10)
    assert following is not None and (following.start, following.end) == (150, 159)


def test_an_incomplete_replay_waits_even_when_forced() -> None:
    buffer = _buffer(range(100, 120), 149)
    assert not buffer.ready(batch_size=10, max_wait=0, now=99.0, position=120)
    assert buffer.cut(batch_size=10, position=120) is None
    # The broker says nothing lies between 120 and 149 (e.g. a transaction marker at 149).
    assert buffer.ready(batch_size=10, max_wait=0, now=99.0, position=150)
    chunk = buffer.cut(batch_size=10, position=150)
    assert chunk is not None and (chunk.start, chunk.end) == (100, 119)


def test_several_announced_chunks_replay_one_after_the_other() -> None:
    buffer = _buffer(range(100, 180), 119, 164)
    first = buffer.cut(batch_size=10)
    second = buffer.cut(batch_size=10)
    third = buffer.cut(batch_size=10)
    assert first is not None and (first.start, first.end, first.replay) == (100, 119, True)
    assert second is not None and (second.start, second.end, second.replay) == (120, 164, True)
    assert third is not None and (third.start, third.end, third.replay) == (165, 174, False)
