"""One write round: a chunk per partition, from records to committed offsets.

Order (each step only after the previous one succeeded):

1. ``prepare``: decode each chunk (events, their JSON lines, dead letters) and flag
   suspected bots (their lines re-encoded with the flags in metadata);
2. ``launch``: commit the *intents* (start offset, ``end=`` metadata) of the new
   chunks, then hand each chunk to the writer thread, which writes it (dedup,
   insert under its token);
3. ``finish``: wait for every write, publish the dead letters and wait for
   Kafka's acknowledgement, then commit ``end + 1`` for every chunk.

A crash anywhere before 3 ends replays the same chunks (see ``sink.batches``).
At most one round is *in flight* (launched, not finished): the next round is
prepared while the writer thread inserts this one (ClickHouse releases the GIL
while it parses and writes), but launched only after this one finished, so the
commits of two rounds never interleave.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, TopicPartition

from sendflowr.events import CanonicalEvent
from sendflowr.sink.batches import Chunk, intent_metadata
from sendflowr.sink.dlq import DeadLetterPublisher
from sendflowr.sink.enrich import Enricher
from sendflowr.sink.faults import FaultHook
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.progress import SinkStats
from sendflowr.sink.records import DeadLetter, dead_letter, decode_records, event_line
from sendflowr.sink.writer import ChunkWriter, WriteResult

__all__ = ["Prepared", "RoundWriter"]


@dataclass(frozen=True, slots=True)
class _Part:
    chunk: Chunk[Message]
    events: list[CanonicalEvent]
    sources: list[Message]
    dead: list[DeadLetter]
    lines: list[bytes]


@dataclass(frozen=True, slots=True)
class Prepared:
    """Chunks decoded and flagged, ready for ``RoundWriter.launch``."""

    parts: list[_Part]


class RoundWriter:
    """Writes rounds of chunks and commits their offsets on ``consumer``."""

    def __init__(
        self,
        topic: str,
        writer: ChunkWriter,
        dlq: DeadLetterPublisher,
        stats: SinkStats,
        metrics: SinkMetrics,
        fault: FaultHook,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sendflowr-sink-writer")
        self._topic = topic
        self._writer = writer
        self._dlq = dlq
        self._stats = stats
        self._metrics = metrics
        self._fault = fault
        self._enricher = Enricher()
        self._flight: list[tuple[_Part, Future[WriteResult]]] | None = None

    @property
    def in_flight(self) -> bool:
        """Whether a launched round waits for ``finish``."""
        return self._flight is not None

    @property
    def settled(self) -> bool:
        """Whether every write of the round in flight returned (``finish`` will not wait)."""
        return self._flight is not None and all(f.done() for _, f in self._flight)

    def write(self, consumer: Consumer, chunks: Sequence[Chunk[Message]]) -> dict[int, int]:
        """Prepare, launch and finish ``chunks`` (at most one per partition); return
        partition → committed offset."""
        self.launch(consumer, self.prepare(chunks))
        return self.finish(consumer)

    def prepare(self, chunks: Sequence[Chunk[Message]]) -> Prepared:
        """Decode ``chunks`` (at most one per partition) and flag suspected bots; no side
        effects on Kafka or the store."""
        parts: list[_Part] = []
        for chunk in chunks:
            decoded = decode_records(chunk.records)
            if chunk.replay:
                self._metrics.replays.inc()
            events, lines = decoded.events, decoded.lines
            flagged = self._enricher.enrich(events)
            for i in flagged:
                lines[i] = event_line(events[i])
            self._metrics.bots.inc(len(flagged))
            parts.append(_Part(chunk, events, decoded.sources, decoded.dead, lines))
        return Prepared(parts)

    def launch(self, consumer: Consumer, prepared: Prepared) -> None:
        """Commit the intents of ``prepared``'s chunks and start writing them; the previous
        round must be finished."""
        if self._flight is not None:
            raise RuntimeError("the previous round is not finished")
        topic = self._topic
        intents = [
            TopicPartition(
                topic, p.chunk.partition, p.chunk.start, metadata=intent_metadata(p.chunk.end)
            )
            for p in prepared.parts
            if not p.chunk.replay
        ]
        if intents:
            consumer.commit(offsets=intents, asynchronous=False)
            self._fault.hit("after-intent")
        write = self._writer.write
        self._flight = [
            (p, self._pool.submit(write, p.events, p.lines, p.chunk.token, p.chunk.partition))
            for p in prepared.parts
        ]

    def finish(self, consumer: Consumer, lost: Collection[int] = ()) -> dict[int, int]:
        """Wait for the round in flight, publish its dead letters, commit its ends; return
        partition → committed offset. Nothing is published or committed for ``lost``
        partitions (their next owner replays them)."""
        flight, self._flight = self._flight or [], None
        try:
            results = [future.result() for _, future in flight]
        finally:
            # After a failure: write nothing more this round, and let a write in
            # progress finish before the caller rewinds.
            for _, future in flight:
                if not future.cancel():
                    future.exception()
        letters: list[DeadLetter] = []
        kept = [(p, r) for (p, _), r in zip(flight, results, strict=True)]
        for part, result in kept:
            self._fault.hit("after-insert")
            self._count(len(part.chunk.records), result.stored, result.duplicates)
            if part.chunk.partition in lost:
                continue
            letters.extend(part.dead)
            if result.rejected:
                by_event = {id(e): r for e, r in zip(part.events, part.sources, strict=True)}
                letters.extend(
                    dead_letter(by_event[id(e)], "insert_rejected", why)
                    for e, why in result.rejected
                )
        self._dlq.publish(letters)
        self._stats.dead_letters += len(letters)
        self._metrics.records.labels("dead_letter").inc(len(letters))
        ends = {
            p.chunk.partition: p.chunk.end + 1 for p, _ in kept if p.chunk.partition not in lost
        }
        if ends:
            topic = self._topic
            offsets = [TopicPartition(topic, partition, end) for partition, end in ends.items()]
            consumer.commit(offsets=offsets, asynchronous=False)
            self._metrics.last_commit.set(time.time())
        return ends

    def close(self) -> None:
        """Stop the writer thread (after its current write)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _count(self, records: int, stored: int, duplicates: int) -> None:
        self._stats.stored += stored
        self._stats.duplicates += duplicates
        self._stats.batches += 1
        self._metrics.records.labels("stored").inc(stored)
        self._metrics.records.labels("duplicate").inc(duplicates)
        self._metrics.batches.inc()
        self._metrics.batch_rows.observe(records)
