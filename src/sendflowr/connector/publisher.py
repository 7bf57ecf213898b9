"""Acknowledged publishing to Kafka: ``await publish(records)`` returns only once the
broker confirmed every record, or raises ``KafkaUnavailable``.

``KafkaPublisher`` uses one idempotent producer (acks=all, lz4, batching; the
project's one produce loop, ``kafka.publish``) per process. A background thread
polls delivery reports; each ``publish`` call owns an asyncio future that the
thread completes, thread-safely, when the last report of its records arrives
(``Delivery.on_done``) — the event loop never blocks on Kafka. ``MemoryPublisher``
is the in-memory double for unit tests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException

from sendflowr.errors import KafkaUnavailable
from sendflowr.kafka import producer_config
from sendflowr.kafka.publish import Delivery, KafkaProducer, Record
from sendflowr.settings import Settings

__all__ = ["KafkaPublisher", "MemoryPublisher", "Publisher", "Record"]

_log = logging.getLogger("sendflowr.connector.publisher")


class Publisher(Protocol):
    """Where accepted events go."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    async def publish(self, records: Sequence[Record]) -> None: ...
    async def ready(self) -> bool: ...


class _Pending:
    """An asyncio future completed when the last delivery report of one ``publish`` arrives."""

    __slots__ = ("delivery", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.delivery = Delivery(n, self._done)

    def _done(self, _delivery: Delivery) -> None:
        # Runs in the poll thread.
        self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if self.future.done():
            return
        if not self.delivery.errors:
            self.future.set_result(None)
        else:
            self.future.set_exception(
                KafkaUnavailable(f"Kafka did not confirm delivery: {self.delivery.errors[0].str()}")
            )


class KafkaPublisher:
    """Idempotent producer + delivery-report thread. No I/O in the constructor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic
        self._timeout = settings.connector_publish_timeout_ms / 1000
        self._producer: KafkaProducer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._fatal = False

    def _make_producer(self) -> KafkaProducer:
        timeout_ms = self._settings.connector_publish_timeout_ms
        config = producer_config(
            self._settings,
            **{"message.timeout.ms": timeout_ms, "error_cb": self._on_error, "logger": _log},
        )
        producer = KafkaProducer(config)
        producer.start()
        return producer

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
            self._producer.stop(self._timeout)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._producer = None

    def _current(self) -> KafkaProducer:
        if self._producer is None:
            raise KafkaUnavailable("publisher not started")
        if self._fatal:
            old, self._producer, self._fatal = self._producer, self._make_producer(), False
            old.stop(0)
        return self._producer

    async def publish(self, records: Sequence[Record]) -> None:
        """Produce ``records`` to the topic keyed by their key; return once all are acked."""
        if not records:
            return
        pending = _Pending(asyncio.get_running_loop(), len(records))
        await self._current().produce_async(self._topic, records, pending.delivery)
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), self._timeout + 1)
        except TimeoutError as exc:
            raise KafkaUnavailable("Kafka did not confirm delivery in time") from exc

    async def ready(self) -> bool:
        """Whether the broker answers a metadata request for the topic (2 s budget)."""
        producer = self._producer
        if producer is None or not producer.started:
            return False
        client = producer.client

        def probe() -> bool:
            try:
                metadata = client.list_topics(self._topic, timeout=2)
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
