"""One write round: a chunk per partition, from records to committed offsets.

Order (each step only after the previous one succeeded):

1. decode every chunk (events + dead letters);
2. commit the *intents* (start offset, ``end=`` metadata) of the new chunks;
3. enrich, then write each chunk (dedup, insert under its token);
4. publish the dead letters and wait for Kafka's acknowledgement;
5. commit ``end + 1`` for every chunk.

A crash anywhere before 5 replays the same chunks (see ``sink.batches``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from confluent_kafka import Consumer, Message, TopicPartition

from sendflowr.sink.batches import Chunk, intent_metadata
from sendflowr.sink.dlq import DeadLetterPublisher
from sendflowr.sink.enrich import Enricher
from sendflowr.sink.faults import FaultHook
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.progress import SinkStats
from sendflowr.sink.records import DeadLetter, dead_letter, decode_records
from sendflowr.sink.writer import ChunkWriter

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
    ) -> None:
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
        decoded = [decode_records(chunk.records) for chunk in chunks]
        intents = [
            TopicPartition(topic, c.partition, c.start, metadata=intent_metadata(c.end))
            for c in chunks
            if not c.replay
        ]
        if intents:
            consumer.commit(offsets=intents, asynchronous=False)
            self._fault.hit("after-intent")
        letters: list[DeadLetter] = []
        for chunk, (events, sources, dead) in zip(chunks, decoded, strict=True):
            if chunk.replay:
                self._metrics.replays.inc()
            self._metrics.bots.inc(self._enricher.enrich(events))
            result = self._writer.write(events, chunk.token, chunk.partition)
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

    def _count(self, records: int, stored: int, duplicates: int) -> None:
        self._stats.stored += stored
        self._stats.duplicates += duplicates
        self._stats.batches += 1
        self._metrics.records.labels("stored").inc(stored)
        self._metrics.records.labels("duplicate").inc(duplicates)
        self._metrics.batches.inc()
        self._metrics.batch_rows.observe(records)
