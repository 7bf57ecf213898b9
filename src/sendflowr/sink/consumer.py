"""The sink's consumer loop: Kafka ``email-events`` → ClickHouse ``email_events``.

One thread polls, buffers records per partition, cuts chunks and hands them
to a writer thread, a few per partition in flight (``sink.rounds``; see
``sink.batches`` for how a chunk's boundaries survive a crash). Offsets are
committed only after ClickHouse and the DLQ acknowledged.

Rebalances: on revoke the buffered records of the revoked partitions are
written and committed; on loss they are dropped and nothing is committed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.errors import Abandoned, KafkaUnavailable, StoreError
from sendflowr.kafka import consumer_config, ensure_topics, producer_config, topic_offsets
from sendflowr.settings import Settings
from sendflowr.sink.batches import Chunk, PartitionBuffer, parse_intent
from sendflowr.sink.dedup import StoreLookup, forget_recent_ids, shared_recent_ids
from sendflowr.sink.dlq import DeadLetterPublisher
from sendflowr.sink.faults import FaultHook
from sendflowr.sink.memory import MemoryReleaser
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.progress import Progress, SinkStats
from sendflowr.sink.rounds import RoundWriter
from sendflowr.sink.writer import ChunkWriter
from sendflowr.store import ClickHouseStore
from sendflowr.store.health import FolderGuard

__all__ = ["SinkConsumer", "SinkStats"]

_log = logging.getLogger("sendflowr.sink")
_error = Message.error
_partition = Message.partition
_OFFSET_BEGINNING = -2
#: Most records one poll hands over (memory: at most this beyond the buffer limit).
_POLL_RECORDS = 10_000


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC for one poll-and-write step.

    A step allocates ~10 objects per record, which triggers full collections
    over every buffered record: measured at 2-5x the step's own cost. Nothing
    in the step builds reference cycles, so reference counting frees it all.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SinkConsumer:
    """Consumes the events topic into the store. ``start()`` spawns the loop; ``stop()`` ends it
    after finishing and committing the current batch."""

    def __init__(
        self,
        settings: Settings,
        store: ClickHouseStore,
        metrics: SinkMetrics | None = None,
        *,
        consumer_overrides: dict[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._store = store
        self.metrics = metrics or SinkMetrics()
        self.stats = SinkStats()
        self._overrides = consumer_overrides or {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._buffers: dict[int, PartitionBuffer[Message]] = {}
        self._committed: dict[int, int] = {}
        self._batch_size = settings.sink_batch_size
        self._max_wait = settings.sink_max_wait_ms / 1000
        self._dlq = DeadLetterPublisher(
            producer_config(settings, **{"linger.ms": 0}), settings.dlq_topic, clock
        )
        self._round_writer_made: RoundWriter | None = None
        self._rewind_needed = False
        self._idle = False
        self._progress = Progress(settings.topic, self.stats, self.metrics)
        # The embedded engine's folder, checked after each insert, before its offsets commit.
        self._folder = FolderGuard(settings.clickhouse_path) if store.embedded else None
        # Freed batches' pages back to the system (the embedded engine's too: it is ours).
        self._memory = MemoryReleaser(self._purge_engine if store.embedded else None)
        self._purge_works = True

    def _purge_engine(self) -> None:
        """Queue the embedded engine's jemalloc purge behind the writes in flight."""
        if self._purge_works:
            self._rounds.between_writes(self._purge_now)

    def _purge_now(self) -> None:
        try:
            self._store.command("SYSTEM JEMALLOC PURGE")
        except StoreError as exc:  # an engine built without jemalloc: never again
            _log.debug("jemalloc purge failed (%s); not trying again", exc)
            self._purge_works = False

    def _ping(self) -> bool:
        try:
            return bool(self._store.query("SELECT 1").scalar() == 1)
        except StoreError:
            return False

    def _folder_problem(self) -> str | None:
        return self._folder.problem() if self._folder is not None else None

    # --- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Connect, subscribe and start the loop thread."""
        if self._folder is not None:
            self._folder.arm()
        created, self._store.created_events_table = self._store.created_events_table, False
        if created or self._store.count_events() == 0:
            # A new or empty table (e.g. made by a CLI command after the folder was lost).
            forget_recent_ids(self._store)
            self._replay_into_new_table()
        self._round_writer_made = self._round_writer()
        # Prefetch deeply: with librdkafka's default (100k queued messages) a busy
        # machine's consumer waits on fetches; the byte cap (64 MB) still bounds memory.
        overrides = {"queued.min.messages": 1_000_000, **self._overrides}
        config = consumer_config(self._settings, **overrides)
        config.setdefault("logger", _log)
        settings = self._settings
        try:  # the DLQ must exist before the first poison record shows up
            ensure_topics(
                settings.kafka_bootstrap_servers,
                [(settings.topic, settings.topic_partitions), (settings.dlq_topic, 1)],
                timeout=10,
            )
        except (KafkaUnavailable, KafkaException) as exc:
            _log.warning("could not check topics (%s); consuming anyway", exc)
        self._consumer = Consumer(config)
        self._dlq.start()
        self._consumer.subscribe(
            [self._settings.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._thread = threading.Thread(target=self._run, name="sendflowr-sink", daemon=True)
        self._thread.start()
        _log.info(
            "consuming %s as group %s into %s (batch %d, max wait %d ms)",
            self._settings.topic,
            self._settings.consumer_group,
            self._store.events_table,
            self._batch_size,
            self._settings.sink_max_wait_ms,
        )

    def _replay_into_new_table(self) -> None:
        """The events table was created just now (or is empty), yet the group may have
        committed offsets: what they cover was stored in a table that is gone (its folder
        deleted, its database dropped). Move the group back to the earliest offsets, so
        Kafka's copy is stored again (duplicates are dropped as usual). Runs before this
        consumer joins the group."""
        settings = self._settings
        try:
            parts = topic_offsets(
                settings.kafka_bootstrap_servers, settings.topic, settings.consumer_group
            )
        except KafkaUnavailable as exc:
            _log.warning("could not read the group's offsets (%s)", exc)
            return
        behind = [p for p in parts if p.committed is not None and p.committed > p.low]
        if not behind:
            return
        lost = sum(p.committed - p.low for p in behind if p.committed is not None)
        _log.error(
            "the events table %s is new or empty, but group %s had committed %d records of %s: "
            "they are replayed from the earliest offsets",
            self._store.events_table,
            settings.consumer_group,
            lost,
            settings.topic,
        )
        rewinder = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": settings.consumer_group,
                "enable.auto.commit": False,
                "logger": _log,
            }
        )
        try:
            offsets = [TopicPartition(settings.topic, p.partition, p.low) for p in behind]
            rewinder.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            _log.error(
                "could not move group %s back (%s): reset it by hand", settings.consumer_group, exc
            )
        finally:
            rewinder.close()

    @property
    def _rounds(self) -> RoundWriter:
        if self._round_writer_made is None:
            raise RuntimeError("the sink was not started")
        return self._round_writer_made

    def _round_writer(self) -> RoundWriter:
        """The round writer (its id memory is read from the store: I/O, so not in __init__)."""
        settings, store = self._settings, self._store
        # Replayed chunks are always checked id by id (``sink.writer``), even with the
        # lookup of every chunk turned off.
        lookup = StoreLookup(store, f"{settings.topic}/{settings.consumer_group}")
        writer = ChunkWriter(
            store,
            self.metrics,
            lookup=lookup if settings.sink_dedup_lookup else None,
            replay_lookup=lookup,
            recent=shared_recent_ids(store, settings.sink_recent_ids),
            stopping=self._stopping,
            verify=self._folder_problem,
            ping=self._ping,
            clock=self._clock,
        )
        return RoundWriter(
            settings.topic,
            writer,
            self._dlq,
            self.stats,
            self.metrics,
            FaultHook.parse(settings.sink_fault),
        )

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the current batch, commit, leave the group and close."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        """True while the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def partitions(self) -> list[int]:
        """Partitions this consumer owns right now."""
        return sorted(self._buffers)

    def lag(self) -> dict[int, int]:
        """Last known lag per assigned partition (from the sink's own commits)."""
        return dict(self._progress.lags)

    # --- the loop --------------------------------------------------------------
    def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        backoff = 1.0
        batches = 0
        try:
            while not self._stopping.is_set():
                try:
                    if self._rewind_needed:
                        self._rewind(consumer)
                    with _gc_paused():
                        self._poll(consumer)
                        self._flush(consumer, force=False)
                    if self.stats.batches != batches:
                        batches = self.stats.batches
                        self._memory.after_batch()
                    elif self._idle and not self._rounds.in_flight:
                        self._memory.when_idle()
                    backoff = 1.0
                except Abandoned:
                    # Stopping during a store outage: the abandoned chunks must not be
                    # skipped by a later chunk's commit, so write nothing more.
                    self._rewind_needed = True
                    break
                except Exception as exc:  # the loop must outlive any one failure
                    if isinstance(exc, KafkaException | KafkaUnavailable):
                        _log.warning("Kafka error (%s); back to the committed offsets", exc)
                    else:
                        _log.exception("unexpected sink error; back to the committed offsets")
                    self._rewind_needed = True
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                self._progress.report(consumer, self._committed)
            try:
                self._flush(consumer, force=True)
            except (Abandoned, KafkaException, KafkaUnavailable, StoreError) as exc:
                _log.warning("final batch not written (%s); it will be replayed", exc)
        finally:
            self._drop(list(self._buffers))
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                _log.warning("closing the consumer: %s", exc)
            self._dlq.stop()
            self._rounds.close()
            self._progress.report(consumer, self._committed, force=True)
            _log.info(
                "sink stopped: %d stored, %d duplicates, %d dead letters",
                self.stats.stored,
                self.stats.duplicates,
                self.stats.dead_letters,
            )

    def _poll(self, consumer: Consumer) -> None:
        buffers = self._buffers
        full = sum(len(b) for b in buffers.values()) >= 2 * self._batch_size * max(len(buffers), 1)
        if full and not any(b.replay_ends for b in buffers.values()):
            # Two batches a partition wait already: let the writer make room first, so
            # memory stays bounded. (Pausing partitions instead would make librdkafka drop
            # what it prefetched for them and fetch it again.) Not while a replay waits for
            # its announced end: its chunk may be larger than today's batches.
            self._idle = False
            self._rounds.wait_any(self._max_wait)
            return
        messages = consumer.consume(num_messages=_POLL_RECORDS, timeout=min(self._max_wait, 0.1))
        self._idle = not messages
        now = time.monotonic()
        if messages and self.stats.first_record_at is None:
            self.stats.first_record_at = now
        if any(map(_error, messages)):
            for message in messages:
                if message.error() is not None:
                    _log.warning("consumer error: %s", message.error())
            messages = [m for m in messages if m.error() is None]
        # Runs of one partition (librdkafka hands over whole fetched batches).
        for partition, run in groupby(messages, key=_partition):
            buffer = buffers.get(partition or 0)
            if buffer is not None:
                buffer.extend(run, now)
        self.metrics.buffered.set(sum(len(b) for b in buffers.values()))

    def _position(self, consumer: Consumer, partition: int) -> int | None:
        tp = consumer.position([TopicPartition(self._settings.topic, partition)])[0]
        return tp.offset if tp.offset >= 0 else None

    def _flush(self, consumer: Consumer, *, force: bool, only: Sequence[int] | None = None) -> None:
        """Write the chunks that are ready (every buffered record if ``force``).

        Chunks are prepared while the writer thread inserts earlier ones and launched
        at once (see ``sink.rounds``); finished writes are committed as they come.
        Everything in flight is finished when ``force`` or the last poll brought nothing.
        """
        rounds = self._rounds
        while not self._rewind_needed:
            if rounds.settled:
                self._committed.update(rounds.collect(consumer))
            now = time.monotonic()
            max_wait = 0.0 if force else self._max_wait
            chunks: list[Chunk[Message]] = []
            for partition, buffer in self._buffers.items():
                if only is not None and partition not in only:
                    continue
                position = self._position(consumer, partition) if buffer.replay_ends else None
                if buffer.ready(self._batch_size, max_wait, now, position):
                    chunk = buffer.cut(self._batch_size, position, now)
                    if chunk is not None:
                        chunks.append(chunk)
            if not chunks:
                break
            # Prepared while the writer thread inserts what is in flight.
            prepared = rounds.prepare(chunks)
            self._committed.update(rounds.launch(consumer, prepared))
        if force or self._idle:
            self._finish_round(consumer)

    def _finish_round(self, consumer: Consumer, lost: Sequence[int] = ()) -> None:
        """Finish every chunk in flight, if any (see ``sink.rounds``)."""
        if self._rounds.in_flight:
            self._committed.update(self._rounds.finish(consumer, lost))

    # --- rebalances ------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = consumer.committed(partitions, timeout=30) if partitions else []
        except KafkaException as exc:
            # Without the intents the first chunks could be cut differently: buffer
            # nothing until a rewind has read them.
            _log.warning("could not read committed offsets (%s); will rewind", exc)
            committed = partitions
            self._rewind_needed = True
        for tp in committed:
            ends = parse_intent(tp.metadata)
            self._buffers[tp.partition] = PartitionBuffer(tp.topic, tp.partition, replay_ends=ends)
            if tp.offset >= 0:
                self._committed[tp.partition] = tp.offset
            if ends:
                _log.info("partition %d: replaying from %d to %s", tp.partition, tp.offset, ends)
        if self.stats.assigned_at is None:
            self.stats.assigned_at = time.monotonic()
        _log.info("assigned partitions %s", sorted(tp.partition for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [tp.partition for tp in partitions]
        try:
            if not self._stopping.is_set() or any(self._buffers.get(p) for p in revoked):
                self._flush(consumer, force=True, only=revoked)
            else:
                self._finish_round(consumer)
        except (Abandoned, KafkaException, KafkaUnavailable, StoreError) as exc:
            _log.warning("revoked partitions not flushed (%s); they will be replayed", exc)
        self._drop(revoked)
        _log.info("revoked partitions %s", sorted(revoked))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = [tp.partition for tp in partitions]
        try:
            self._finish_round(consumer, lost)  # commits nothing for the lost partitions
        except (Abandoned, KafkaException, KafkaUnavailable, StoreError) as exc:
            _log.warning("round in flight not finished (%s); it will be replayed", exc)
        self._drop(lost)
        _log.warning("lost partitions %s; nothing committed for them", sorted(lost))

    def _drop(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            self._buffers.pop(p, None)
            self._committed.pop(p, None)
            self._progress.forget(p)

    def _rewind(self, consumer: Consumer) -> None:
        """Forget buffered records and seek back to the committed offsets (and intents)."""
        self._finish_round(consumer)
        assigned = consumer.assignment()
        committed = consumer.committed(assigned, timeout=30) if assigned else []
        for tp in committed:
            buffer = self._buffers.get(tp.partition)
            if buffer is None:
                continue
            buffer.clear()
            buffer.replay_ends = parse_intent(tp.metadata)
            offset = tp.offset if tp.offset >= 0 else _OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        self._rewind_needed = False
