"""``--sink kafka``: publish CanonicalEvents straight to the topic, keyed by universal_id.

Bypasses the connector (the ids are the ones its identity store would give a
new email); acknowledged counts come from the broker's delivery reports.
"""

from __future__ import annotations

from typing import Any

import orjson
from confluent_kafka import KafkaError, Producer

from sendflowr.errors import KafkaUnavailable
from sendflowr.generator.block import EventBlock
from sendflowr.generator.model import Model
from sendflowr.generator.rows import canonical_rows
from sendflowr.generator.sinks.base import SinkStats
from sendflowr.kafka import producer_config
from sendflowr.settings import Settings

__all__ = ["KafkaSink"]


class KafkaSink:
    """Produces every event to ``settings.topic`` and waits for acks on close."""

    name = "kafka"

    def __init__(self, model: Model, settings: Settings, timeout: float = 60.0) -> None:
        self._model = model
        self._settings = settings
        self._timeout = timeout
        self._producer: Producer | None = None
        self._errors: list[str] = []
        self.stats = SinkStats()

    def open(self) -> None:
        """Create the producer and check the broker answers."""
        self._producer = Producer(producer_config(self._settings))
        try:
            self._producer.list_topics(self._settings.topic, timeout=10)
        except Exception as exc:  # confluent raises KafkaException
            raise KafkaUnavailable(
                f"Kafka not available at {self._settings.kafka_bootstrap_servers}: {exc}"
            ) from exc

    def _report(self, err: KafkaError | None, _msg: Any) -> None:
        if err is None:
            self.stats.acknowledged += 1
        else:
            self.stats.failed += 1
            if len(self._errors) < 5:
                self._errors.append(str(err))

    def write(self, block: EventBlock) -> None:
        """Queue the block's events (delivery is confirmed asynchronously)."""
        producer = self._producer
        assert producer is not None, "open() first"
        topic = self._settings.topic
        for row in canonical_rows(self._model, block):
            key = row["universal_id"].encode()
            value = orjson.dumps(row)
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=self._report)
                    break
                except BufferError:
                    producer.poll(0.1)
            self.stats.sent += 1
        producer.poll(0)

    def close(self) -> None:
        """Wait for every delivery report."""
        if self._producer is None:
            return
        left = self._producer.flush(self._timeout)
        self.stats.failed += left
        self._producer = None
        if self.stats.failed:
            raise KafkaUnavailable(
                f"{self.stats.failed} events not acknowledged by Kafka: {'; '.join(self._errors)}"
            )
