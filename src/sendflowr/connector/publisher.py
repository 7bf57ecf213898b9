"""Acknowledged publishing to Kafka: ``await publish(records)`` returns only once the
broker confirmed every record, or raises ``KafkaUnavailable``.

``KafkaPublisher`` uses one idempotent confluent-kafka producer (acks=all, lz4,
batching) per process. A background thread polls delivery reports; each
``publish`` call owns an asyncio future that the thread completes, thread-safely,
when the last report of its records arrives — the event loop never blocks on
Kafka. ``MemoryPublisher`` is the in-memory double for unit tests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from sendflowr.errors import KafkaUnavailable
from sendflowr.kafka import producer_config
from sendflowr.settings import Settings

__all__ = ["KafkaPublisher", "MemoryPublisher", "Publisher", "Record"]

_log = logging.getLogger("sendflowr.connector.publisher")

#: ``(key, value)`` of one Kafka record.
Record = tuple[bytes, bytes]


class Publisher(Protocol):
    """Where accepted events go."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    async def publish(self, records: Sequence[Record]) -> None: ...
    async def ready(self) -> bool: ...


class _Pending:
    """Delivery reports still expected for one ``publish`` call."""

    __slots__ = ("error", "future", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.remaining = n
        self.error: KafkaError | None = None

    def on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        # Runs in the poll thread.
        if err is not None and self.error is None:
            self.error = err
        self.remaining -= 1
        if self.remaining == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if self.future.done():
            return
        if self.error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(
                KafkaUnavailable(f"Kafka did not confirm delivery: {self.error.str()}")
            )


class KafkaPublisher:
    """Idempotent producer + delivery-report thread. No I/O in the constructor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic
        self._timeout = settings.connector_publish_timeout_ms / 1000
        self._producer: Producer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._fatal = False

    def _make_producer(self) -> Producer:
        timeout_ms = self._settings.connector_publish_timeout_ms
        config = producer_config(
            self._settings,
            **{"message.timeout.ms": timeout_ms, "error_cb": self._on_error, "logger": _log},
        )
        return Producer(config)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            _log.error("fatal producer error, the producer will be recreated: %s", err.str())
            self._fatal = True
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            _log.warning("Kafka: all brokers down")

    def start(self) -> None:
        """Create the producer and start the delivery-report thread."""
        self._producer = self._make_producer()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            producer = self._producer
            if producer is not None:
                producer.poll(0.05)

    def stop(self) -> None:
        """Flush what is queued (bounded by the publish timeout) and stop the thread."""
        if self._producer is not None:
            self._producer.flush(self._timeout)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._producer = None

    def _current(self) -> Producer:
        if self._producer is None:
            raise KafkaUnavailable("publisher not started")
        if self._fatal:
            old, self._producer, self._fatal = self._producer, self._make_producer(), False
            old.flush(0)
        return self._producer

    async def publish(self, records: Sequence[Record]) -> None:
        """Produce ``records`` to the topic keyed by their key; return once all are acked."""
        if not records:
            return
        producer = self._current()
        pending = _Pending(asyncio.get_running_loop(), len(records))
        produce, topic, callback = producer.produce, self._topic, pending.on_delivery
        sent = 0
        try:
            for key, value in records:
                while True:
                    try:
                        produce(topic, value, key, on_delivery=callback)
                        break
                    except BufferError:
                        await asyncio.sleep(0.005)  # local queue full: let reports drain
                sent += 1
        except KafkaException as exc:
            # Records already queued still report; the rest never will.
            pending.remaining -= len(records) - sent
            raise KafkaUnavailable(f"Kafka refused a record: {exc}") from exc
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), self._timeout + 1)
        except TimeoutError as exc:
            raise KafkaUnavailable("Kafka did not confirm delivery in time") from exc

    async def ready(self) -> bool:
        """Whether the broker answers a metadata request for the topic (2 s budget)."""
        producer = self._producer
        if producer is None:
            return False

        def probe() -> bool:
            try:
                metadata = producer.list_topics(self._topic, timeout=2)
            except KafkaException:
                return False
            info = metadata.topics.get(self._topic)
            return bool(metadata.brokers) and info is not None and info.error is None

        return await asyncio.to_thread(probe)


class MemoryPublisher:
    """Keeps published records in memory; ``available = False`` simulates a broker outage."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.available = True

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""

    async def publish(self, records: Sequence[Record]) -> None:
        """Store ``records``, or raise ``KafkaUnavailable`` when unavailable."""
        if not self.available:
            raise KafkaUnavailable("broker unavailable (memory double)", retry_after=2)
        self.records.extend(records)

    async def ready(self) -> bool:
        """``available``."""
        return self.available
