"""One record the sink cannot handle never stalls it: nested JSON 3,000 deep (a
RecursionError in the decoder) goes to the DLQ on its own partition's path while
the other partitions keep flowing, and a restart does not stall on it again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from sendflowr.events import encode_event
from sendflowr.kafka import producer_config
from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.store import ClickHouseStore
from tests.integration.sink_support import lag, read_dlq, wait_for
from tests.unit.sink.factory import make_events


@pytest.fixture
def sink_store(kafka_settings: Settings) -> Iterator[ClickHouseStore]:
    store = ClickHouseStore(kafka_settings)
    store.start()
    try:
        yield store
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.stop()


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _produce(settings: Settings, records: list[tuple[int, bytes]]) -> None:
    producer = Producer(producer_config(settings))
    failed: list[object] = []
    for partition, value in records:
        producer.produce(
            settings.topic,
            value,
            partition=partition,
            on_delivery=lambda err, _m: failed.append(err) if err else None,
        )
        producer.poll(0)
    assert producer.flush(60) == 0 and not failed


def _stored(store: ClickHouseStore) -> int:
    return int(store.query(f"SELECT count() FROM {store.events_table}").scalar())  # noqa: S608


def test_a_record_nested_3000_deep_goes_to_the_dlq_and_no_partition_stalls(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    settings = kafka_settings.model_copy(update={"sink_batch_size": 200})
    events = make_events(900, seed=31)
    deep = encode_event(events[0])[:-1] + b',"deep":' + _nested(3000) + b"}"
    deep_meta = encode_event(events[1]).replace(
        b'"metadata":{', b'"metadata":{"deep":' + _nested(900) + b",", 1
    )
    assert deep_meta != encode_event(events[1])
    records = [(i % 3, encode_event(e)) for i, e in enumerate(events[2:])]
    records.insert(100, (0, deep))  # partition 0, amid good records
    records.insert(400, (1, deep_meta))  # partition 1: nested deep, but decodable
    _produce(settings, records)

    sink = SinkConsumer(settings, sink_store)
    sink.start()
    try:
        wait_for(lambda: lag(settings) == 0, 120, "every partition to be committed")
    finally:
        sink.stop()
    letters = read_dlq(settings, 1)
    reasons = {m.value(): dict(m.headers())["sendflowr.dlq.reason"].decode() for m in letters}
    assert reasons.get(deep) == "schema_invalid"  # nested beyond what the contract allows
    [dead] = [m for m in letters if m.value() == deep]
    assert dict(dead.headers())["sendflowr.dlq.partition"] == b"0"
    assert b"deeper than" in dict(dead.headers())["sendflowr.dlq.detail"]
    # The 900-deep record is either stored or dead-lettered, never a stall.
    assert _stored(sink_store) + len(letters) == 898 + 2

    # A restart from the committed offsets flows on with new records.
    more = make_events(300, seed=32)
    _produce(settings, [(i % 3, encode_event(e)) for i, e in enumerate(more)])
    before = _stored(sink_store)
    again = SinkConsumer(settings, sink_store)
    again.start()
    try:
        wait_for(lambda: lag(settings) == 0, 120, "the restarted sink to catch up")
    finally:
        again.stop()
    assert _stored(sink_store) == before + 300
