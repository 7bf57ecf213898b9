"""One write round: a chunk per partition, from records to committed offsets.

Order (each step only after the previous one succeeded):

1. commit the *intents* (start offset, ``end=`` metadata) of the new chunks;
2. decode each chunk (events + dead letters), enrich and encode it, and hand
   it to the writer thread, which writes it (dedup, insert under its token);
3. publish the dead letters and wait for Kafka's acknowledgement;
4. commit ``end + 1`` for every chunk, once every write returned.

A crash anywhere before 4 replays the same chunks (see ``sink.batches``).
ClickHouse releases the GIL while it parses and writes a chunk, so the
writer thread's insert of one chunk overlaps the decoding of the next.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from confluent_kafka import Consumer, Message, TopicPartition

from sendflowr.events import CanonicalEvent
from sendflowr.sink.batches import Chunk, intent_metadata
from sendflowr.sink.dlq import DeadLetterPublisher
from sendflowr.sink.enrich import Enricher
from sendflowr.sink.faults import FaultHook
from sendflowr.sink.jsonrows import StoredEvent
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.progress import SinkStats
from sendflowr.sink.records import DeadLetter, dead_letter, decode_records
from sendflowr.sink.writer import ChunkWriter, WriteResult

__all__ = ["RoundWriter"]


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
        *,
        stored_events: bool = True,
    ) -> None:
        """``stored_events``: decode into ``StoredEvent`` (what the JSON insert path encodes
        without a conversion) rather than ``CanonicalEvent``."""
        self._into = StoredEvent if stored_events else CanonicalEvent
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sendflowr-sink-writer")
        self._topic = topic
        self._writer = writer
        self._dlq = dlq
        self._stats = stats
        self._metrics = metrics
        self._fault = fault
        self._enricher = Enricher()

    def write(self, consumer: Consumer, chunks: Sequence[Chunk[Message]]) -> dict[int, int]:
        """Write ``chunks`` (at most one per partition); return partition → committed offset."""
        topic = self._topic
        intents = [
            TopicPartition(topic, c.partition, c.start, metadata=intent_metadata(c.end))
            for c in chunks
            if not c.replay
        ]
        if intents:
            consumer.commit(offsets=intents, asynchronous=False)
            self._fault.hit("after-intent")
        letters: list[DeadLetter] = []
        pending: list[Future[WriteResult]] = []
        decoded: list[tuple[list[CanonicalEvent], list[Message], list[DeadLetter]]] = []
        try:
            for chunk in chunks:
                events, sources, dead = decode_records(chunk.records, self._into)
                decoded.append((events, sources, dead))
                if chunk.replay:
                    self._metrics.replays.inc()
                self._metrics.bots.inc(self._enricher.enrich(events))
                encoded = self._writer.encode(events)
                future = self._pool.submit(
                    self._writer.write, events, chunk.token, chunk.partition, encoded
                )
                pending.append(future)
            results = [future.result() for future in pending]
        finally:
            # After a failure: write nothing more this round, and let a write in
            # progress finish before the loop rewinds.
            for future in pending:
                if not future.cancel():
                    future.exception()
        for chunk, result, (events, sources, dead) in zip(chunks, results, decoded, strict=True):
            self._fault.hit("after-insert")
            letters.extend(dead)
            if result.rejected:
                by_event = {id(e): r for e, r in zip(events, sources, strict=True)}
                letters.extend(
                    dead_letter(by_event[id(e)], "insert_rejected", why)
                    for e, why in result.rejected
                )
            self._count(len(chunk.records), result.stored, result.duplicates)
        self._dlq.publish(letters)
        self._stats.dead_letters += len(letters)
        self._metrics.records.labels("dead_letter").inc(len(letters))
        ends = [TopicPartition(topic, c.partition, c.end + 1) for c in chunks]
        consumer.commit(offsets=ends, asynchronous=False)
        self._metrics.last_commit.set(time.time())
        return {c.partition: c.end + 1 for c in chunks}

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
