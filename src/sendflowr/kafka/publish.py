"""Producing to Kafka with acknowledgement on delivery: the one produce loop of the project.

``KafkaProducer`` wraps one confluent-kafka producer. ``produce`` queues records
(a full local queue is drained by polling: BufferError → poll, then retry);
``produce_async`` does the same from an event loop, yielding while a
background thread polls; ``confirm`` waits for every delivery report and raises
``KafkaUnavailable`` unless Kafka acknowledged every record. ``Delivery``
counts the reports of the records it was handed to (acknowledged, failed, the
first errors) and can call back once the last expected report arrived.

Used by the connector (``connector/publisher.py``), the sink's dead-letter
queue (``sink/dlq.py``) and the generator's ``--output kafka``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer

from sendflowr.errors import KafkaUnavailable

__all__ = ["Delivery", "Headers", "KafkaProducer", "Record"]

#: ``(key, value)`` of one Kafka record.
Record = tuple[bytes, bytes]
_AnyRecord = tuple[bytes | None, bytes | None]
#: Kafka record headers: ``(name, value)`` pairs.
Headers = list[tuple[str, str | bytes | None]]

_KEPT_ERRORS: Final = 5
_POLL_SECONDS: Final = 0.1
_YIELD_SECONDS: Final = 0.005


class Delivery:
    """Delivery reports of a group of records: counted, with the first errors kept.

    ``report`` is the producer's ``on_delivery`` callback. Once ``expected``
    reports arrived, ``on_done`` is called (in the thread that polls the producer).
    """

    __slots__ = ("errors", "expected", "failed", "on_done", "reported", "unconfirmed")

    def __init__(
        self, expected: int = 0, on_done: Callable[[Delivery], None] | None = None
    ) -> None:
        self.expected = expected
        self.on_done = on_done
        self.reported = 0
        self.failed = 0
        self.unconfirmed = 0  # still without a report when ``confirm`` gave up
        self.errors: list[KafkaError] = []

    @property
    def acknowledged(self) -> int:
        """Records Kafka acknowledged."""
        return self.reported - self.failed

    def report(self, err: KafkaError | None, _msg: Any) -> None:
        """The delivery callback: count one report (kept lean: it runs once per record)."""
        self.reported += 1
        if err is not None:
            self.failed += 1
            if len(self.errors) < _KEPT_ERRORS:
                self.errors.append(err)
        if self.reported == self.expected and self.on_done is not None:
            self.on_done(self)

    def describe(self) -> str:
        """The kept errors as one line (empty when none failed)."""
        return "; ".join(e.str() for e in self.errors)


class KafkaProducer:
    """One confluent-kafka producer; no I/O in the constructor."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._producer: Producer | None = None

    @property
    def client(self) -> Producer:
        """The started confluent-kafka producer (``KafkaUnavailable`` before ``start``)."""
        if self._producer is None:
            raise KafkaUnavailable("Kafka producer not started")
        return self._producer

    @property
    def started(self) -> bool:
        """Whether ``start`` was called and ``stop`` was not."""
        return self._producer is not None

    def start(self) -> None:
        """Create the producer."""
        if self._producer is None:
            self._producer = Producer(self._config)

    def stop(self, timeout: float = 10.0) -> int:
        """Flush for up to ``timeout`` s and drop the producer; return records left unsent."""
        producer, self._producer = self._producer, None
        return 0 if producer is None else int(producer.flush(timeout))

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports for up to ``timeout`` s."""
        producer = self._producer  # read once: another thread may stop it meanwhile
        if producer is not None:
            producer.poll(timeout)

    def produce(
        self,
        topic: str,
        records: Iterable[_AnyRecord],
        delivery: Delivery,
        headers: Headers | None = None,
    ) -> int:
        """Queue ``records`` (with ``headers``, if any); return how many were queued.

        A full local queue is drained by polling here; a refused record raises
        ``KafkaUnavailable`` (those queued before it still report to ``delivery``).
        """
        producer = self.client
        produce, callback, sent = producer.produce, delivery.report, 0
        try:
            for key, value in records:
                while True:
                    try:
                        produce(topic, value, key, on_delivery=callback, headers=headers)
                        break
                    except BufferError:
                        producer.poll(_POLL_SECONDS)
                sent += 1
        except KafkaException as exc:
            raise KafkaUnavailable(f"Kafka refused a record: {exc}") from exc
        return sent

    async def produce_async(
        self, topic: str, records: Sequence[_AnyRecord], delivery: Delivery
    ) -> None:
        """``produce`` for an event loop while another thread polls: a full queue yields.

        On a refused record, ``delivery.expected`` drops by the records never
        queued (they will never report) and ``KafkaUnavailable`` is raised.
        """
        produce, callback, sent = self.client.produce, delivery.report, 0
        try:
            for key, value in records:
                while True:
                    try:
                        produce(topic, value, key, on_delivery=callback)
                        break
                    except BufferError:
                        await asyncio.sleep(_YIELD_SECONDS)  # let the poll thread drain reports
                sent += 1
        except KafkaException as exc:
            delivery.expected -= len(records) - sent
            raise KafkaUnavailable(f"Kafka refused a record: {exc}") from exc

    def confirm(self, delivery: Delivery, timeout: float, what: str = "records") -> None:
        """Wait up to ``timeout`` s for every report (acknowledge on delivery).

        Raises ``KafkaUnavailable`` unless Kafka acknowledged every record handed
        to ``delivery``; records still unreported then count as ``unconfirmed``.
        """
        delivery.unconfirmed = int(self.client.flush(timeout))
        missing = delivery.failed + delivery.unconfirmed
        if missing:
            reason = delivery.describe() or f"no report within {timeout:g} s"
            raise KafkaUnavailable(f"{missing} {what} not acknowledged by Kafka: {reason}")
