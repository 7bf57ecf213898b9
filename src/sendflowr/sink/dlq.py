"""The dead-letter queue: records the sink could not store, with why and from where.

A DLQ record keeps the original key and value byte for byte; the rest is in
headers (all UTF-8 text):

- ``sendflowr.dlq.reason``: ``empty_value`` | ``invalid_utf8`` | ``malformed_json`` |
  ``schema_invalid`` | ``insert_rejected`` | ``unprocessable`` (anything else that failed on
  that record, e.g. JSON nested too deep for the decoder)
- ``sendflowr.dlq.detail``: the decoder's or validator's message (≤ 500 chars)
- ``sendflowr.dlq.topic``, ``sendflowr.dlq.partition``, ``sendflowr.dlq.offset``: the source
- ``sendflowr.dlq.failed_at``: ISO-8601 UTC time the sink gave up on it

Delivery is at least once: a batch replayed after a crash may publish its dead
letters again (same source offset, so readers can drop repeats).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.kafka.publish import Delivery, Headers, KafkaProducer
from sendflowr.sink.records import DeadLetter

__all__ = ["HEADER_PREFIX", "DeadLetterPublisher", "dlq_headers"]

HEADER_PREFIX = "sendflowr.dlq."
_log = logging.getLogger("sendflowr.sink")


def dlq_headers(letter: DeadLetter, failed_at: datetime) -> Headers:
    """The headers of ``letter``'s DLQ record."""
    fields = {
        "reason": letter.reason,
        "detail": letter.detail,
        "topic": letter.topic,
        "partition": str(letter.partition),
        "offset": str(letter.offset),
        "failed_at": failed_at.isoformat(),
    }
    return [(HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


class DeadLetterPublisher:
    """Publishes dead letters to ``topic`` and waits until Kafka acknowledged them."""

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._kafka = KafkaProducer(config)
        self._topic = topic
        self._clock = clock

    def start(self) -> None:
        """Create the producer."""
        self._kafka.start()

    def publish(self, letters: Sequence[DeadLetter], timeout: float = 30.0) -> None:
        """Send ``letters``; raise ``KafkaUnavailable`` unless every one was acknowledged."""
        if not letters:
            return
        delivery = Delivery()
        now = self._clock.now()
        for letter in letters:
            record = (letter.key, letter.value)
            self._kafka.produce(self._topic, [record], delivery, dlq_headers(letter, now))
        self._kafka.confirm(delivery, timeout, f"dead letters for {self._topic}")
        _log.info("%d record(s) sent to %s", len(letters), self._topic)

    def stop(self) -> None:
        """Flush and drop the producer."""
        self._kafka.stop(10)
