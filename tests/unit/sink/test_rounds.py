"""Chunk writes: intents before writes, ends after; one chunk in flight per partition; lost
partitions commit nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from sendflowr.clock import ManualClock
from sendflowr.events import encode_event
from sendflowr.sink.batches import Chunk
from sendflowr.sink.dedup import RecentIds
from sendflowr.sink.faults import FaultHook
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.progress import SinkStats
from sendflowr.sink.records import DeadLetter
from sendflowr.sink.rounds import RoundWriter
from sendflowr.sink.writer import ChunkWriter
from sendflowr.store.memory import MemoryStore
from tests.unit.sink.factory import FakeRecord, make_events


class _Log:
    def __init__(self) -> None:
        self.steps: list[tuple[Any, ...]] = []
        self.gate = threading.Event()
        self.gate.set()


class _Consumer:
    def __init__(self, log: _Log) -> None:
        self.log = log

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        assert not asynchronous
        self.log.steps.append(
            ("commit", sorted((tp.partition, tp.offset, tp.metadata or "") for tp in offsets))
        )


class _Dlq:
    def __init__(self, log: _Log) -> None:
        self.log = log

    def publish(self, letters: list[DeadLetter]) -> None:
        self.log.steps.append(("dlq", sorted((d.partition, d.offset) for d in letters)))


def _chunk(partition: int, start: int, n: int, poison_at: int | None = None) -> Chunk[Any]:
    values = [encode_event(e) for e in make_events(n, seed=partition * 1000 + start)]
    if poison_at is not None:
        values[poison_at] = b"{not json"
    records = [
        FakeRecord(v, start + i, _partition=partition, _topic="t") for i, v in enumerate(values)
    ]
    return Chunk("t", partition, records, replay=False)


def _rounds(log: _Log) -> RoundWriter:
    writer = ChunkWriter(
        MemoryStore(
            gate=log.gate,
            on_insert=lambda i: log.steps.append(("insert", i.dedup_token, i.rows)),
        ),
        SinkMetrics(),
        lookup=None,
        recent=RecentIds(1000),
        stopping=threading.Event(),
        clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)),
    )
    return RoundWriter("t", writer, _Dlq(log), SinkStats(), SinkMetrics(), FaultHook())  # type: ignore[arg-type]


def test_a_round_commits_intents_then_inserts_then_dead_letters_then_ends() -> None:
    log = _Log()
    rounds = _rounds(log)
    committed = rounds.write(_Consumer(log), [_chunk(0, 10, 5, poison_at=1), _chunk(2, 0, 3)])  # type: ignore[arg-type]
    assert committed == {0: 15, 2: 3}
    assert log.steps == [
        ("commit", [(0, 10, "sendflowr-sink:end=14"), (2, 0, "sendflowr-sink:end=2")]),
        ("insert", "t:0:10-14", 4),
        ("insert", "t:2:0-2", 3),
        ("dlq", [(0, 11)]),
        ("commit", [(0, 15, ""), (2, 3, "")]),
    ]
    rounds.close()


def test_a_partitions_chunks_are_announced_before_written_and_pipelined() -> None:
    log = _Log()
    rounds, consumer = _rounds(log), _Consumer(log)
    log.gate.clear()  # the store holds the inserts
    rounds.launch(consumer, rounds.prepare([_chunk(1, 0, 4)]))  # type: ignore[arg-type]
    # The next chunk is announced with the first still in flight: no wait for the store.
    assert rounds.launch(consumer, rounds.prepare([_chunk(1, 4, 4)])) == {1: 0}  # type: ignore[arg-type]
    assert rounds.busy == {1} and rounds.settled == []
    assert log.steps == [
        ("commit", [(1, 0, "sendflowr-sink:end=3")]),
        ("commit", [(1, 0, "sendflowr-sink:end=3,7")]),
    ]
    third = rounds.prepare([_chunk(1, 8, 4)])
    log.gate.set()
    # IN_FLIGHT chunks are out: the third waits for the oldest, and one commit says
    # "0-3 written, 4-7 and 8-11 next".
    assert rounds.launch(consumer, third) == {1: 4}  # type: ignore[arg-type]
    assert rounds.finish(consumer) == {1: 12}  # type: ignore[arg-type]
    commits = [s for s in log.steps if s[0] == "commit"]
    assert commits[2:] == [
        ("commit", [(1, 4, "sendflowr-sink:end=7,11")]),
        ("commit", [(1, 12, "")]),
    ]
    inserts = [s for s in log.steps if s[0] == "insert"]
    assert inserts == [
        ("insert", "t:1:0-3", 4),
        ("insert", "t:1:4-7", 4),
        ("insert", "t:1:8-11", 4),
    ]
    assert log.steps.index(inserts[2]) > log.steps.index(commits[2])
    rounds.close()


def test_other_partitions_are_launched_while_one_is_in_flight() -> None:
    log = _Log()
    rounds, consumer = _rounds(log), _Consumer(log)
    log.gate.clear()
    rounds.launch(consumer, rounds.prepare([_chunk(0, 0, 2)]))  # type: ignore[arg-type]
    assert rounds.launch(consumer, rounds.prepare([_chunk(2, 0, 3)])) == {2: 0}  # type: ignore[arg-type]
    assert rounds.busy == {0, 2}
    log.gate.set()
    assert rounds.finish(consumer, partitions=[2]) == {2: 3}  # type: ignore[arg-type]
    assert rounds.collect(consumer) == {0: 2}  # type: ignore[arg-type]
    assert rounds.finish(consumer) == {}  # type: ignore[arg-type]
    assert not rounds.in_flight
    rounds.close()


def test_lost_partitions_of_the_round_in_flight_publish_and_commit_nothing() -> None:
    log = _Log()
    rounds, consumer = _rounds(log), _Consumer(log)
    chunks = [_chunk(0, 0, 3, poison_at=0), _chunk(1, 0, 3, poison_at=2)]
    rounds.launch(consumer, rounds.prepare(chunks))  # type: ignore[arg-type]
    assert rounds.finish(consumer, lost=[1]) == {0: 3}  # type: ignore[arg-type]
    assert log.steps[-2:] == [("dlq", [(0, 0)]), ("commit", [(0, 3, "")])]
    assert not rounds.in_flight
    rounds.close()


def test_chunks_whose_intent_could_not_be_committed_are_not_launched() -> None:
    log = _Log()
    rounds = _rounds(log)

    class _Down(_Consumer):
        def commit(self, offsets: list[Any], asynchronous: bool) -> None:
            raise RuntimeError("broker down")

    with pytest.raises(RuntimeError):
        rounds.launch(_Down(log), rounds.prepare([_chunk(0, 0, 3)]))  # type: ignore[arg-type]
    assert not rounds.in_flight and log.steps == []
    # Once Kafka is back, the same chunk goes out normally.
    assert rounds.write(_Consumer(log), [_chunk(0, 0, 3)]) == {0: 3}  # type: ignore[arg-type]
    rounds.close()


class _FragileEnricher:
    """Fails on any batch holding the event with ``subject`` BOOM (an unforeseen bug)."""

    def enrich(self, events: list[Any]) -> list[int]:
        if any(e.subject == "BOOM" for e in events):
            raise RecursionError("maximum recursion depth exceeded")
        return []


def test_a_record_that_breaks_preparation_is_dead_lettered_and_its_chunk_goes_on() -> None:
    log = _Log()
    rounds = _rounds(log)
    rounds._enricher = _FragileEnricher()  # type: ignore[assignment]
    events = make_events(4, seed=5)
    events[2].subject = "BOOM"
    records = [
        FakeRecord(encode_event(e), 20 + i, _partition=1, _topic="t") for i, e in enumerate(events)
    ]
    prepared = rounds.prepare([Chunk("t", 1, records, replay=False), _chunk(2, 0, 3)])  # type: ignore[arg-type]
    [first, second] = prepared.parts
    assert len(first.events) == 3 and len(first.lines) == 3
    assert [(d.offset, d.reason) for d in first.dead] == [(22, "unprocessable")]
    assert first.dead[0].detail.startswith("RecursionError")
    assert len(second.events) == 3 and not second.dead
    rounds.close()


def test_a_task_between_writes_runs_after_the_writes_launched_without_blocking() -> None:
    log = _Log()
    rounds, consumer = _rounds(log), _Consumer(log)
    log.gate.clear()  # the store holds the insert
    rounds.launch(consumer, rounds.prepare([_chunk(0, 0, 3)]))  # type: ignore[arg-type]
    ran = threading.Event()
    rounds.between_writes(lambda: (log.steps.append(("task",)), ran.set()) and None)
    assert not ran.is_set()  # queued behind the insert; the caller did not wait
    log.gate.set()
    assert ran.wait(5)
    steps = [s[0] for s in log.steps if s[0] != "commit"]
    assert steps == ["insert", "task"]
    rounds.finish(consumer)  # type: ignore[arg-type]
    rounds.close()
