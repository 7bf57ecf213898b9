"""Helpers of the sink's integration tests: produce records, wait, read the DLQ."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from sendflowr.events import CanonicalEvent, encode_event
from sendflowr.kafka import producer_config, topic_offsets
from sendflowr.settings import Settings


def produce(settings: Settings, records: Iterable[tuple[bytes | None, bytes | None]]) -> int:
    """Publish (key, value) records to the events topic; return how many Kafka acknowledged."""
    producer = Producer(producer_config(settings))
    acked: list[int] = []
    failed: list[Any] = []

    def delivered(err: Any, _msg: Any) -> None:
        (failed if err else acked).append(1)

    for key, value in records:
        while True:
            try:
                producer.produce(settings.topic, value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
    assert not failed, failed
    return len(acked)


def event_records(events: Iterable[CanonicalEvent]) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of each event as the connector publishes it."""
    return [(e.universal_id.encode(), encode_event(e)) for e in events]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def lag(settings: Settings) -> int | None:
    """Total lag of the sink's group on the events topic (None if it committed nothing)."""
    parts = topic_offsets(settings.kafka_bootstrap_servers, settings.topic, settings.consumer_group)
    if any(p.lag is None and p.high > p.low for p in parts):
        return None  # records the group never committed anything for
    return sum(p.lag or 0 for p in parts)


def committed_total(settings: Settings) -> int:
    """Sum of the group's committed offsets on the events topic."""
    parts = topic_offsets(settings.kafka_bootstrap_servers, settings.topic, settings.consumer_group)
    return sum(p.committed or 0 for p in parts)


def reset_group_to_earliest(settings: Settings) -> None:
    """Commit offset 0 on every partition for the (inactive) group, as a reset tool would."""
    parts = topic_offsets(settings.kafka_bootstrap_servers, settings.topic)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.consumer_group,
            "enable.auto.commit": False,
        }
    )
    try:
        offsets = [TopicPartition(settings.topic, p.partition, p.low) for p in parts]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def read_dlq(settings: Settings, expected: int, timeout: float = 30) -> list[Any]:
    """The first ``expected`` records of the DLQ topic (fails if fewer arrive in time)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"dlq-reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.dlq_topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                out.append(message)
        # Anything beyond ``expected`` is a bug too: give it a moment to show up.
        extra = consumer.poll(1.0)
        if extra is not None and extra.error() is None:
            out.append(extra)
    finally:
        consumer.close()
    return out
