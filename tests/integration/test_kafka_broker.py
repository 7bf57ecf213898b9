"""The project's own Kafka broker: keyed round trip and per-key order."""

from __future__ import annotations

import time
from collections import defaultdict

from confluent_kafka import Consumer, Producer

from sendflowr.kafka import topic_offsets


def test_10k_keyed_messages_round_trip_in_per_key_order(kafka_bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent: dict[str, list[int]] = defaultdict(list)
    for i in range(10_000):
        key = f"sf_{i % 97:016x}"
        sent[key].append(i)
        producer.produce(topic, key=key, value=str(i).encode())
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    offsets = topic_offsets(kafka_bootstrap, topic)
    assert len(offsets) == 3
    assert sum(p.high for p in offsets) == 10_000
    assert all(p.high > 0 for p in offsets), "keys should spread over all 3 partitions"

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: dict[str, list[int]] = defaultdict(list)
    partition_of: dict[str, int] = {}
    total = 0
    deadline = time.monotonic() + 60
    try:
        while total < 10_000 and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                assert msg.error() is None
                key = msg.key().decode()
                assert partition_of.setdefault(key, msg.partition()) == msg.partition()
                received[key].append(int(msg.value()))
                total += 1
    finally:
        consumer.close()
    assert total == 10_000
    assert received == sent
