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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, Producer

from sendflowr.errors import KafkaUnavailable
from sendflowr.sink.records import DeadLetter

__all__ = ["HEADER_PREFIX", "DeadLetterPublisher", "dlq_headers"]

HEADER_PREFIX = "sendflowr.dlq."
_log = logging.getLogger("sendflowr.sink")


def dlq_headers(letter: DeadLetter, failed_at: datetime) -> list[tuple[str, str | bytes | None]]:
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._topic = topic
        self._clock = clock
        self._producer: Producer | None = None

    def start(self) -> None:
        """Create the producer."""
        if self._producer is None:
            self._producer = Producer(self._config)

    def publish(self, letters: Sequence[DeadLetter], timeout: float = 30.0) -> None:
        """Send ``letters``; raise ``KafkaUnavailable`` unless every one was acknowledged."""
        if not letters:
            return
        if self._producer is None:
            raise KafkaUnavailable("DLQ producer not started")
        failures: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                failures.append(err)

        now = self._clock()
        for letter in letters:
            while True:
                try:
                    self._producer.produce(
                        self._topic,
                        value=letter.value,
                        key=letter.key,
                        headers=dlq_headers(letter, now),
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
        remaining = self._producer.flush(timeout)
        if remaining or failures:
            reason = failures[0].str() if failures else f"{remaining} not acknowledged"
            raise KafkaUnavailable(f"dead letters not delivered to {self._topic}: {reason}")
        _log.info("%d record(s) sent to %s", len(letters), self._topic)

    def stop(self) -> None:
        """Flush and drop the producer."""
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
