"""A replay after a crash on the real engine: a token ClickHouse holds without its rows.

ClickHouse writes an insert block's token to the table's deduplication log just before it
commits the block's part. A process killed in between leaves the token and no rows; the
kill -9 test hit that once (78 rows, one month's part of a chunk, never stored). Here the
same state is made on purpose: rows written under a token are deleted (a mutation leaves
the deduplication log alone), then the chunk is replayed.
"""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.sink.batches import intent_metadata
from sendflowr.sink.dedup import RecentIds, StoreLookup
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.records import decode_records
from sendflowr.sink.writer import ChunkWriter
from sendflowr.store import ClickHouseStore
from tests.integration.sink_support import event_records, lag, produce, wait_for
from tests.unit.sink.factory import FakeRecord, make_events


def _count(store: ClickHouseStore) -> tuple[int, int]:
    row = store.query(f"SELECT count(), uniqExact(event_id) FROM {store.events_table}").rows[0]  # noqa: S608
    return int(row[0]), int(row[1])


def _lose(store: ClickHouseStore, event_ids: list[str]) -> None:
    """Delete these rows: their tokens stay in the deduplication log, as after the crash."""
    store.command(
        f"ALTER TABLE {store.events_table} DELETE WHERE event_id IN {{ids:Array(UUID)}} "
        "SETTINGS mutations_sync = 2",
        {"ids": event_ids},
    )


def _writer(store: ClickHouseStore, replay_lookup: StoreLookup | None) -> ChunkWriter:
    """A new process's writer: no lookup of every chunk, no id memory."""
    return ChunkWriter(
        store,
        SinkMetrics(),
        lookup=None,
        recent=RecentIds(0),
        stopping=threading.Event(),
        replay_lookup=replay_lookup,
    )


def test_a_replay_trusted_to_its_token_loses_rows_a_checked_one_restores_them(
    store: ClickHouseStore,
) -> None:
    events = make_events(250, seed=3)
    decoded = decode_records([FakeRecord(v, i) for i, (_k, v) in enumerate(event_records(events))])
    token = "email-events:0:0-249"
    _writer(store, None).write(decoded.events, decoded.lines, token)
    assert _count(store) == (250, 250)
    lost = [e.event_id for e in events[:100]]
    _lose(store, lost)
    assert _count(store) == (150, 150)

    # What the sink did before: the replay under the chunk's token is dropped by ClickHouse.
    _writer(store, None).write(decoded.events, decoded.lines, token, replay=True)
    assert _count(store) == (150, 150)

    # Checked id by id, the missing rows go in under a token of their own, once.
    lookup = StoreLookup(store, "replay-test")
    result = _writer(store, lookup).write(decoded.events, decoded.lines, token, replay=True)
    assert (result.stored, result.duplicates) == (100, 150)
    assert _count(store) == (250, 250)
    again = _writer(store, lookup).write(decoded.events, decoded.lines, token, replay=True)
    assert (again.stored, again.duplicates) == (0, 250)
    assert _count(store) == (250, 250)


class _RecordingStore:
    """The real store; remembers each insert's token and the event ids it carried."""

    def __init__(self, store: ClickHouseStore) -> None:
        self._store = store
        self.chunks: list[tuple[str, list[str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_store", "chunks"):
            object.__setattr__(self, name, value)
        else:  # e.g. the sink's "table created" flag belongs to the store
            setattr(self._store, name, value)

    def insert_select(self, *args: Any, dedup_token: str | None = None, **kwargs: Any) -> None:
        self._store.insert_select(*args, dedup_token=dedup_token, **kwargs)
        events = decode_records([FakeRecord(line, 0) for line in args[3].splitlines()]).events
        self.chunks.append((dedup_token or "", [e.event_id for e in events]))


def _drain(settings: Settings, store: Any, produced: int) -> SinkConsumer:
    sink = SinkConsumer(settings, store)
    sink.start()
    try:
        wait_for(
            lambda: sink.stats.stored + sink.stats.duplicates >= produced and lag(settings) == 0,
            120,
            "the sink to catch up",
        )
    finally:
        sink.stop()
    return sink


def test_the_sink_restores_announced_chunks_whose_parts_were_lost(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    # The lookup of every chunk and the id memory off: only the replay check can help.
    settings = kafka_settings.model_copy(
        update={"sink_batch_size": 250, "sink_dedup_lookup": False, "sink_recent_ids": 0}
    )
    total = 2_000
    assert produce(settings, event_records(make_events(total, seed=4))) == total
    recording = _RecordingStore(sink_store)
    _drain(settings, recording, total)
    assert _count(sink_store) == (total, total)

    # The state a consumer killed while writing partition p's first two chunks leaves:
    # both announced from p's first offset, tokens logged, parts never committed.
    by_partition: dict[int, list[tuple[int, int, list[str]]]] = {}
    for token, ids in recording.chunks:
        _topic, partition, span = token.rsplit(":", 2)
        start, end = map(int, span.split("-"))
        by_partition.setdefault(int(partition), []).append((start, end, ids))
    partition, chunks = max(by_partition.items(), key=lambda item: len(item[1]))
    first, second = sorted(chunks)[:2]
    assert first[0] == 0 and second[0] == first[1] + 1
    lost = first[2] + second[2]
    _lose(sink_store, lost)
    assert _count(sink_store) == (total - len(lost), total - len(lost))
    rewinder = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": settings.consumer_group}
    )
    try:
        intent = intent_metadata([first[1], second[1]])
        rewinder.commit(
            offsets=[TopicPartition(settings.topic, partition, 0, metadata=intent)],
            asynchronous=False,
        )
    finally:
        rewinder.close()

    sink = _drain(settings, sink_store, second[1] + 1)
    assert _count(sink_store) == (total, total)
    assert sink.metrics.replays._value.get() == 2
    assert sink.metrics.replayed_rows._value.get() == len(lost)
