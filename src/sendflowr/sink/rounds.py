"""Writing chunks: from records to committed offsets, one chunk in flight per partition.

Order for each chunk (each step only after the previous one succeeded):

1. ``prepare``: decode it (events, their JSON lines, dead letters) and flag
   suspected bots (their lines re-encoded with the flags in metadata);
2. ``launch``: commit its *intent* (start offset, ``end=`` metadata), then hand
   it to the writer thread, which writes it (dedup, insert under its token);
3. ``finish``: wait for the write, publish the dead letters and wait for
   Kafka's acknowledgement, then commit ``end + 1``.

A crash anywhere before 3 ends replays the same chunk (see ``sink.batches``).
Each partition has at most one chunk *in flight* (launched, not finished), so
its commits stay in order; chunks of other partitions queue behind it on the
writer thread, which therefore never waits for the consumer thread. When a
partition's next chunk is launched as its previous one finishes, one commit
says both (the end of one is the start of the next).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
    """Writes chunks and commits their offsets on ``consumer``."""

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
        self._flight: dict[int, tuple[_Part, Future[WriteResult]]] = {}

    @property
    def in_flight(self) -> bool:
        """Whether some launched chunk waits for ``finish``."""
        return bool(self._flight)

    @property
    def busy(self) -> set[int]:
        """Partitions with a chunk in flight."""
        return set(self._flight)

    @property
    def settled(self) -> list[int]:
        """Partitions whose chunk in flight was written (``finish`` will not wait for them)."""
        return [p for p, (_, future) in self._flight.items() if future.done()]

    def wait_any(self, timeout: float) -> None:
        """Wait until some chunk in flight was written, at most ``timeout`` seconds."""
        if self._flight:
            wait([f for _, f in self._flight.values()], timeout, return_when=FIRST_COMPLETED)

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

    def launch(self, consumer: Consumer, prepared: Prepared) -> dict[int, int]:
        """Finish the chunks in flight of ``prepared``'s partitions, commit the intents of its
        chunks, and start writing them. Returns partition → offset committed for finished
        chunks (as ``finish``)."""
        partitions = [p.chunk.partition for p in prepared.parts]
        ends, letters = self._settle(partitions, ())
        self._publish(letters)
        topic = self._topic
        offsets = {
            p.chunk.partition: TopicPartition(
                topic, p.chunk.partition, p.chunk.start, metadata=intent_metadata(p.chunk.end)
            )
            for p in prepared.parts
            if not p.chunk.replay
        }
        for partition, end in ends.items():
            offsets.setdefault(partition, TopicPartition(topic, partition, end))
        if offsets:
            consumer.commit(offsets=list(offsets.values()), asynchronous=False)
            self._metrics.last_commit.set(time.time())
            if any(tp.metadata for tp in offsets.values()):
                self._fault.hit("after-intent")
        write = self._writer.write
        for p in prepared.parts:
            future = self._pool.submit(write, p.events, p.lines, p.chunk.token, p.chunk.partition)
            self._flight[p.chunk.partition] = (p, future)
        return ends

    def finish(
        self,
        consumer: Consumer,
        lost: Collection[int] = (),
        partitions: Iterable[int] | None = None,
    ) -> dict[int, int]:
        """Wait for the chunks in flight of ``partitions`` (all if None), publish their dead
        letters, commit their ends; return partition → committed offset. Nothing is
        published or committed for ``lost`` partitions (their next owner replays them)."""
        ends, letters = self._settle(self._flight if partitions is None else partitions, lost)
        self._publish(letters)
        if ends:
            topic = self._topic
            offsets = [TopicPartition(topic, partition, end) for partition, end in ends.items()]
            consumer.commit(offsets=offsets, asynchronous=False)
            self._metrics.last_commit.set(time.time())
        return ends

    def _settle(
        self, partitions: Iterable[int], lost: Collection[int]
    ) -> tuple[dict[int, int], list[DeadLetter]]:
        """Wait for the writes of ``partitions``' chunks in flight; return their ends and dead
        letters (none for ``lost`` partitions)."""
        flight = [self._flight.pop(p) for p in list(partitions) if p in self._flight]
        try:
            results = [future.result() for _, future in flight]
        except BaseException:
            # After a failure: write nothing more, and let a write in progress finish
            # before the caller rewinds.
            for _, future in [*flight, *self._flight.values()]:
                if not future.cancel():
                    future.exception()
            self._flight.clear()
            raise
        letters: list[DeadLetter] = []
        ends: dict[int, int] = {}
        for (part, _), result in zip(flight, results, strict=True):
            self._fault.hit("after-insert")
            self._count(len(part.chunk.records), result.stored, result.duplicates)
            if part.chunk.partition in lost:
                continue
            ends[part.chunk.partition] = part.chunk.end + 1
            letters.extend(part.dead)
            if result.rejected:
                by_event = {id(e): r for e, r in zip(part.events, part.sources, strict=True)}
                letters.extend(
                    dead_letter(by_event[id(e)], "insert_rejected", why)
                    for e, why in result.rejected
                )
        return ends, letters

    def _publish(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        self._dlq.publish(letters)
        self._stats.dead_letters += len(letters)
        self._metrics.records.labels("dead_letter").inc(len(letters))

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
