"""``--sink kafka``: publish CanonicalEvents straight to the topic, keyed by universal_id.

Bypasses the connector (the ids are the ones its identity store would give a
new email); acknowledged counts come from the broker's delivery reports.
"""

from __future__ import annotations

import orjson

from sendflowr.errors import KafkaUnavailable
from sendflowr.generator.block import EventBlock
from sendflowr.generator.model import Model
from sendflowr.generator.outputs.base import OutputStats
from sendflowr.generator.rows import canonical_rows
from sendflowr.kafka import producer_config
from sendflowr.kafka.publish import Delivery, KafkaProducer
from sendflowr.settings import Settings

__all__ = ["KafkaOutput"]

#: Most kilobytes of produced records waiting in the local queue.
_QUEUE_KBYTES = 131_072


class KafkaOutput:
    """Produces every event to ``settings.topic`` and waits for acks on close."""

    name = "kafka"

    def __init__(self, model: Model, settings: Settings, timeout: float = 60.0) -> None:
        self._model = model
        self._settings = settings
        self._timeout = timeout
        # A bounded local queue: at volume the generator outruns the broker, and the
        # producer's default (1 GB) would be resident memory for nothing.
        self._kafka = KafkaProducer(
            producer_config(settings, **{"queue.buffering.max.kbytes": _QUEUE_KBYTES})
        )
        self._delivery = Delivery()
        self.stats = OutputStats()

    def open(self) -> None:
        """Create the producer and check the broker answers."""
        self._kafka.start()
        try:
            self._kafka.client.list_topics(self._settings.topic, timeout=10)
        except Exception as exc:  # confluent raises KafkaException
            raise KafkaUnavailable(
                f"Kafka not available at {self._settings.kafka_bootstrap_servers}: {exc}"
            ) from exc

    def write(self, block: EventBlock) -> None:
        """Queue the block's events (delivery is confirmed asynchronously)."""
        records = (
            (row["universal_id"].encode(), orjson.dumps(row))
            for row in canonical_rows(self._model, block)
        )
        self.stats.sent += self._kafka.produce(self._settings.topic, records, self._delivery)
        self._kafka.poll(0)
        self._count()

    def close(self) -> None:
        """Wait for every delivery report; raise unless Kafka acknowledged every event."""
        if not self._kafka.started:
            return
        try:
            self._kafka.confirm(self._delivery, self._timeout, "events")
        finally:
            self._kafka.stop(0)
            self._count()

    def _count(self) -> None:
        self.stats.acknowledged = self._delivery.acknowledged
        self.stats.failed = self._delivery.failed + self._delivery.unconfirmed
