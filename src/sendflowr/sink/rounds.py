"""Writing chunks: from records to committed offsets, pipelined per partition.

Order for each chunk (each step only after the previous one succeeded):

1. ``prepare``: decode it (events, their JSON lines, dead letters) and flag
   suspected bots (their lines re-encoded with the flags in metadata);
2. ``launch``: commit the partition's *intent* — the start of its oldest
   unfinished chunk and the ends of all its launched chunks, this one
   included — then hand the chunk to the writer thread, which writes it
   (dedup, insert under its token);
3. ``finish``/``collect``: once the write returned, publish the dead letters and
   wait for Kafka's acknowledgement, then commit the start of the partition's
   next unfinished chunk (with the remaining ends) or ``end + 1``.

A crash anywhere replays the announced chunks with the same boundaries (see
``sink.batches``). Up to ``IN_FLIGHT`` chunks of a partition are in flight at
once, so a partition's next chunk is announced while its previous one is
written and the writer thread, which takes chunks in launch order, never
waits for the consumer thread between two of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Final

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

__all__ = ["IN_FLIGHT", "Prepared", "RoundWriter"]

_log = logging.getLogger("sendflowr.sink")

#: Most chunks of one partition launched and not finished.
IN_FLIGHT: Final = 2


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


@dataclass(slots=True)
class _Flight:
    part: _Part
    future: Future[WriteResult] | None = None


@dataclass(slots=True)
class _Settled:
    """What finishing some chunks brought: partitions' new offsets and dead letters."""

    ends: dict[int, int] = field(default_factory=dict)
    letters: list[DeadLetter] = field(default_factory=list)


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
        self._flight: dict[int, list[_Flight]] = {}

    @property
    def in_flight(self) -> bool:
        """Whether some launched chunk waits for ``finish``."""
        return any(self._flight.values())

    @property
    def busy(self) -> set[int]:
        """Partitions with a chunk in flight."""
        return {p for p, queue in self._flight.items() if queue}

    @property
    def settled(self) -> list[int]:
        """Partitions whose oldest chunk in flight was written (``collect`` takes it)."""
        return [p for p, queue in self._flight.items() if queue and _done(queue[0])]

    def wait_any(self, timeout: float) -> None:
        """Wait until some chunk in flight was written, at most ``timeout`` seconds."""
        futures = [f.future for q in self._flight.values() for f in q if f.future is not None]
        if futures:
            wait(futures, timeout, return_when=FIRST_COMPLETED)

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
            if chunk.replay:
                self._metrics.replays.inc()
            try:
                parts.append(self._prepare(chunk, chunk.records))
            except Exception:  # one record must not stall the partition
                _log.warning("chunk %s failed to prepare; record by record", chunk.token)
                parts.append(self._prepare_each(chunk))
        return Prepared(parts)

    def _prepare(self, chunk: Chunk[Message], records: Sequence[Message]) -> _Part:
        decoded = decode_records(records)
        events, lines = decoded.events, decoded.lines
        flagged = self._enricher.enrich(events)
        for i in flagged:
            lines[i] = event_line(events[i])
        self._metrics.bots.inc(len(flagged))
        return _Part(chunk, events, decoded.sources, decoded.dead, lines)

    def _prepare_each(self, chunk: Chunk[Message]) -> _Part:
        """``_prepare`` one record at a time: a record that fails is a dead letter
        (``unprocessable``), the others go on."""
        part = _Part(chunk, [], [], [], [])
        for record in chunk.records:
            try:
                one = self._prepare(chunk, [record])
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}"[:500]
                part.dead.append(dead_letter(record, "unprocessable", detail))
                continue
            part.events.extend(one.events)
            part.sources.extend(one.sources)
            part.dead.extend(one.dead)
            part.lines.extend(one.lines)
        return part

    def launch(self, consumer: Consumer, prepared: Prepared) -> dict[int, int]:
        """Announce ``prepared``'s chunks (at most one per partition) and start writing them;
        a partition with ``IN_FLIGHT`` chunks in flight first finishes its oldest. Returns
        partition → offset committed (as ``finish``)."""
        settled = _Settled()
        for part in prepared.parts:
            queue = self._flight.setdefault(part.chunk.partition, [])
            while len(queue) >= IN_FLIGHT:
                self._settle_oldest(part.chunk.partition, settled, ())
        self._publish(settled.letters)
        fresh = [p for p in prepared.parts if not p.chunk.replay]
        for part in prepared.parts:
            self._flight[part.chunk.partition].append(_Flight(part))
        touched = {p.chunk.partition for p in fresh} | set(settled.ends)
        try:
            committed = self._commit(consumer, touched, settled.ends)
        except BaseException:
            for part in prepared.parts:  # not announced, so not launched: the caller rewinds
                self._flight[part.chunk.partition].pop()
            raise
        if fresh:
            self._fault.hit("after-intent")
        write = self._writer.write
        for part in prepared.parts:
            flight = self._flight[part.chunk.partition][-1]
            chunk = part.chunk
            flight.future = self._pool.submit(
                write, part.events, part.lines, chunk.token, chunk.partition, replay=chunk.replay
            )
        return committed

    def collect(self, consumer: Consumer) -> dict[int, int]:
        """Finish every chunk whose write returned (without waiting for others)."""
        settled = _Settled()
        for partition, queue in self._flight.items():
            while queue and _done(queue[0]):
                self._settle_oldest(partition, settled, ())
        self._publish(settled.letters)
        return self._commit(consumer, set(settled.ends), settled.ends)

    def finish(
        self,
        consumer: Consumer,
        lost: Collection[int] = (),
        partitions: Iterable[int] | None = None,
    ) -> dict[int, int]:
        """Wait for the chunks in flight of ``partitions`` (all if None), publish their dead
        letters, commit their ends; return partition → committed offset. Nothing is
        published or committed for ``lost`` partitions (their next owner replays them)."""
        settled = _Settled()
        for partition in list(self._flight if partitions is None else partitions):
            while self._flight.get(partition):
                self._settle_oldest(partition, settled, lost)
        self._publish(settled.letters)
        return self._commit(consumer, set(settled.ends), settled.ends)

    def _commit(
        self, consumer: Consumer, partitions: set[int], ends: dict[int, int]
    ) -> dict[int, int]:
        """Commit where ``partitions`` stand: the start of the oldest chunk in flight with the
        ends of all of them, or (none in flight) the offset after the last finished one,
        from ``ends``."""
        offsets: list[TopicPartition] = []
        for partition in sorted(partitions):
            queue = self._flight.get(partition)
            if queue:
                chunks = [f.part.chunk for f in queue]
                metadata = intent_metadata([c.end for c in chunks])
                offsets.append(
                    TopicPartition(self._topic, partition, chunks[0].start, metadata=metadata)
                )
            elif partition in ends:
                offsets.append(TopicPartition(self._topic, partition, ends[partition]))
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)
            self._metrics.last_commit.set(time.time())
        return {tp.partition: tp.offset for tp in offsets}

    def _settle_oldest(self, partition: int, settled: _Settled, lost: Collection[int]) -> None:
        """Wait for ``partition``'s oldest chunk in flight and account for it in ``settled``
        (nothing for a ``lost`` partition)."""
        flight = self._flight[partition].pop(0)
        assert flight.future is not None
        try:
            result = flight.future.result()
        except BaseException:
            # After a failure: write nothing more, and let a write in progress finish
            # before the caller rewinds.
            for queue in self._flight.values():
                for other in queue:
                    if other.future is not None and not other.future.cancel():
                        other.future.exception()
            self._flight.clear()
            raise
        part = flight.part
        self._fault.hit("after-insert")
        self._count(len(part.chunk.records), result.stored, result.duplicates)
        if partition in lost:
            return
        settled.ends[partition] = part.chunk.end + 1
        settled.letters.extend(part.dead)
        if result.rejected:
            by_event = {id(e): r for e, r in zip(part.events, part.sources, strict=True)}
            settled.letters.extend(
                dead_letter(by_event[id(e)], "insert_rejected", why) for e, why in result.rejected
            )

    def _publish(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        self._dlq.publish(letters)
        self._stats.dead_letters += len(letters)
        self._metrics.records.labels("dead_letter").inc(len(letters))

    def between_writes(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the writer thread once the writes launched so far are done, without
        waiting for it (the store serves one call at a time: a task on the consumer thread
        would wait for the insert in progress). ``task`` handles its own errors."""
        self._pool.submit(task)

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


def _done(flight: _Flight) -> bool:
    return flight.future is not None and flight.future.done()
