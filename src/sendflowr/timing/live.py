"""Live context: the inference role follows ``email-events`` and keeps context in memory.

``LiveContexts`` holds, per recipient, what ``timing.context.Context`` needs:
hot paths (last 30 min), sends (last 24 h), circuit breakers that may still be
active, and permanent suppressions — deduplicated by event id. ``LiveSource``
is an ``EventSource`` whose ``contexts`` read this memory (no ClickHouse query
on the decision path); ``evidence`` (the curve fit) still reads the store.

``LiveFollower`` fills it. At start it reads the sink group's committed offsets
(everything before them is in ClickHouse), loads the context-bearing events from
ClickHouse, then consumes the topic from those offsets on its own consumer group
(``<consumer_group>-inference``): so a restart loses nothing, and an event seen
twice (in the store and the topic) counts once. Each applied event is also
handed to listeners (held schedules revise on it, ``timing.revisions``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from confluent_kafka import Consumer, KafkaException, TopicPartition

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.errors import SendFlowrError
from sendflowr.events import (
    CIRCUIT_BREAKER_TYPES,
    HOT_PATH_TYPES,
    PERMANENT_SUPPRESSION_TYPES,
    CanonicalEvent,
    decode_event,
)
from sendflowr.kafka.clients import consumer_config
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from sendflowr.timing.context import (
    FATIGUE_WINDOW_MINUTES,
    HOT_PATH_HORIZON_MINUTES,
    Context,
    suppressions_from_events,
)
from sendflowr.timing.curves import Evidence
from sendflowr.timing.decisions import Decision
from sendflowr.timing.explanations import ExplanationStore, MemoryExplanations
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.params import DEFAULT_PARAMS
from sendflowr.timing.schedules import ScheduleBook
from sendflowr.timing.sources import EventSource
from sendflowr.timing.zone_choices import learned_zones
from sendflowr.timing.zones import ZoneChoice

__all__ = ["BatchedExplanations", "LiveContexts", "LiveFollower", "LiveSource", "Signal"]

#: Event types that change a recipient's context.
CONTEXT_TYPES: Final = frozenset(
    (*HOT_PATH_TYPES, *CIRCUIT_BREAKER_TYPES, *PERMANENT_SUPPRESSION_TYPES, "sent")
)
_LONGEST_BREAKER_MINUTES: Final = round(max(DEFAULT_PARAMS.suppression_hours.values()) * 60)

_LOAD: Final = """
SELECT event_id, universal_id, event_type, intDiv(toUnixTimestamp64Milli(timestamp), 60000)
FROM {table}
WHERE universal_id != '' AND event_type IN {types:Array(String)}
  AND (event_type IN {permanent:Array(String)}
       OR timestamp >= fromUnixTimestamp64Milli({since_ms:Int64}))
"""


@dataclass(frozen=True, slots=True)
class Signal:
    """One context-bearing event: ``(event_id, universal_id, event_type, epoch minute)``."""

    event_id: str
    universal_id: str
    event_type: str
    minute: int


@dataclass
class _Recipient:
    #: event id → (event type, epoch minute): the id dedupes, and goes when the event expires
    events: dict[str, tuple[str, int]] = field(default_factory=dict)


class LiveContexts:
    """Every recipient's live context, in memory; thread-safe."""

    def __init__(self) -> None:
        self._by_user: dict[str, _Recipient] = {}
        self._lock = threading.Lock()
        self.applied = 0

    def apply(self, signal: Signal) -> bool:
        """Record one signal; False if it was seen before (or carries no context)."""
        if signal.event_type not in CONTEXT_TYPES:
            return False
        with self._lock:
            r = self._by_user.setdefault(signal.universal_id, _Recipient())
            if signal.event_id in r.events:
                return False
            r.events[signal.event_id] = (signal.event_type, signal.minute)
            self.applied += 1
            return True

    def prune(self, now_minute: int) -> None:
        """Forget events that can no longer affect a decision made at or after now."""
        with self._lock:
            for uid in list(self._by_user):
                r = self._by_user[uid]
                r.events = {i: (t, m) for i, (t, m) in r.events.items() if _alive(t, m, now_minute)}
                if not r.events:
                    del self._by_user[uid]

    def context(self, universal_id: str, now_minute: int) -> Context | None:
        """The recipient's context at ``now_minute`` (None when nothing applies)."""
        with self._lock:
            r = self._by_user.get(universal_id)
            events = list(r.events.values()) if r is not None else []
        events = [(t, m) for t, m in events if m <= now_minute and _alive(t, m, now_minute)]
        suppressions = [
            s
            for s in suppressions_from_events(
                [(t, m) for t, m in events if t not in HOT_PATH_TYPES and t != "sent"]
            )
            if s.end is None or s.end > now_minute
        ]
        ctx = Context(
            hot_paths=sorted(m for t, m in events if t in HOT_PATH_TYPES),
            recent_sends=sorted(m for t, m in events if t == "sent"),
            suppressions=suppressions,
        )
        return None if ctx.empty else ctx

    def __len__(self) -> int:
        return len(self._by_user)


def _alive(event_type: str, minute: int, now_minute: int) -> bool:
    if event_type in PERMANENT_SUPPRESSION_TYPES:
        return True
    if event_type in HOT_PATH_TYPES:
        return minute >= now_minute - HOT_PATH_HORIZON_MINUTES
    if event_type == "sent":
        return minute >= now_minute - FATIGUE_WINDOW_MINUTES
    return minute >= now_minute - _LONGEST_BREAKER_MINUTES


def signal_of(event: CanonicalEvent) -> Signal:
    """The signal an event carries."""
    return Signal(
        event.event_id, event.universal_id, event.event_type, epoch_minute(event.timestamp)
    )


class LiveSource:
    """An ``EventSource``: evidence from ``store_source``, context from memory; it also
    carries the process's ``ScheduleBook`` (if any) to the schedule routes."""

    def __init__(
        self, store_source: EventSource, live: LiveContexts, schedules: ScheduleBook | None = None
    ) -> None:
        self.store_source = store_source
        self.live = live
        #: the held schedules this process fires (``timing.schedules_api`` finds them here)
        self.schedules = schedules

    def evidence(self, now_minute: int, universal_ids: Sequence[str] | None = None) -> Evidence:
        """The store source's evidence (the curve fit, cached by the engine)."""
        return self.store_source.evidence(now_minute, universal_ids)

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        """The store source's recipients with new evidence (the incremental refresh)."""
        return self.store_source.changed_since(watermark)

    def zone_of(self, universal_id: str) -> ZoneChoice | None:
        """The store source's zone of this recipient, when it knows one."""
        zone_of = getattr(self.store_source, "zone_of", None)
        return zone_of(universal_id) if zone_of is not None else None

    def release_memory(self) -> None:
        """The store source's release of the memory its reads freed (when it has one)."""
        release = getattr(self.store_source, "release_memory", None)
        if release is not None:
            release()

    def zones_of(self, universal_ids: Sequence[str]) -> list[ZoneChoice | None]:
        """The store source's zones of these recipients (None where it knows none)."""
        return learned_zones(self.store_source, universal_ids)

    def contexts(self, universal_ids: list[str], now_minute: int) -> dict[str, Context]:
        """Context of each recipient that has any, from memory."""
        out: dict[str, Context] = {}
        for uid in universal_ids:
            ctx = self.live.context(uid, now_minute)
            if ctx is not None:
                out[uid] = ctx
        return out


class LiveFollower:
    """Follows the events topic into ``LiveContexts`` on a daemon thread."""

    def __init__(
        self,
        settings: Settings,
        live: LiveContexts,
        *,
        store: ClickHouseStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.live = live
        self.store = store
        self.group = f"{settings.consumer_group}-inference"
        self.clock = clock
        self._listeners: list[Callable[[Signal], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._caught_up = threading.Event()
        self.consumed = 0

    def listen(self, listener: Callable[[Signal], None]) -> None:
        """Call ``listener`` with every new signal (after it is in memory)."""
        self._listeners.append(listener)

    @property
    def caught_up(self) -> bool:
        """True once the topic was read up to where it stood at start."""
        return self._caught_up.is_set()

    def _start_offsets(self, consumer: Consumer) -> tuple[list[TopicPartition], dict[int, int]]:
        topic = self.settings.topic
        meta = consumer.list_topics(topic, timeout=30).topics.get(topic)
        if meta is None or meta.error is not None:
            return [], {}
        parts = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        sink = Consumer(consumer_config(self.settings))
        try:
            committed = sink.committed(parts, timeout=30) if self.store is not None else parts
        finally:
            sink.close()
        starts: list[TopicPartition] = []
        ends: dict[int, int] = {}
        for tp in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), 30)
            offset = tp.offset if self.store is not None and tp.offset >= 0 else low
            starts.append(TopicPartition(topic, tp.partition, max(offset, low)))
            ends[tp.partition] = high
        return starts, ends

    def load_store(self) -> None:
        """Load the context-bearing events of the store into memory (the rebuild's first
        half), handing each to the listeners as the topic's are."""
        if self.store is None:
            return
        now = epoch_minute(self.clock.now())
        since = now - max(_LONGEST_BREAKER_MINUTES, FATIGUE_WINDOW_MINUTES)
        result = self.store.query(
            _LOAD.replace("{table}", self.store.events_table),
            {
                "types": sorted(CONTEXT_TYPES),
                "permanent": list(PERMANENT_SUPPRESSION_TYPES),
                "since_ms": since * 60_000,
            },
        )
        for event_id, uid, event_type, minute in result.rows:
            signal = Signal(str(event_id), str(uid), str(event_type), int(minute))
            if self.live.apply(signal):
                for listener in self._listeners:
                    listener(signal)

    def start(self) -> None:
        """Rebuild from the store and the topic, then follow the topic (returns at once;
        ``wait_caught_up`` waits for the rebuild)."""
        consumer = Consumer(
            consumer_config(
                self.settings,
                **{
                    "group.id": self.group,
                    "fetch.wait.max.ms": 20,
                    "enable.auto.offset.store": True,
                },
            )
        )
        try:
            starts, ends = self._start_offsets(consumer)  # before the store load: no gap
            self.load_store()
        except KafkaException:
            consumer.close()
            raise
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(consumer, starts, ends), name="sendflowr-live", daemon=True
        )
        self._thread.start()

    def wait_caught_up(self, timeout: float = 60.0) -> bool:
        """Wait until the rebuild read the topic to where it stood at start."""
        return self._caught_up.wait(timeout)

    def _run(self, consumer: Consumer, starts: list[TopicPartition], ends: dict[int, int]) -> None:
        left = {t.partition for t in starts if t.offset < ends.get(t.partition, 0)}
        if not left:
            self._caught_up.set()
        try:
            if starts:
                consumer.assign(starts)
            last_prune = time.monotonic()
            while not self._stop.is_set():
                if not starts:
                    time.sleep(0.2)
                    continue
                batch = consumer.consume(5000, 0.05)
                for msg in batch:
                    value, partition, offset = msg.value(), msg.partition(), msg.offset()
                    if msg.error() is not None or value is None:
                        continue
                    try:
                        event = decode_event(value)
                    except msgspec.DecodeError:
                        continue  # the sink dead-letters it; nothing for context
                    signal = signal_of(event)
                    if self.live.apply(signal):
                        for listener in self._listeners:
                            listener(signal)
                    self.consumed += 1
                    if partition in left and offset is not None and offset + 1 >= ends[partition]:
                        left.discard(partition)
                        if not left:
                            self._caught_up.set()
                if batch:
                    consumer.commit(asynchronous=True)
                if time.monotonic() - last_prune > 60:
                    self.live.prune(epoch_minute(self.clock.now()))
                    last_prune = time.monotonic()
        finally:
            consumer.close()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class BatchedExplanations:
    """An ``ExplanationStore`` that keeps the request path free of store writes.

    ``save`` queues the batch in memory (where ``get`` finds it at once); a daemon
    thread hands the queue to ``inner`` every ``interval`` s in one call per batch.
    Records stay readable from memory until written; a crash loses at most the
    last ``interval`` s of explanations (never a decision or a schedule).
    """

    def __init__(self, inner: ExplanationStore, interval: float = 0.2) -> None:
        self.inner = inner
        self.interval = interval
        self._queue: list[tuple[list[Decision], dict[str, Any]]] = []
        self._unwritten: dict[str, tuple[Decision, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def save(self, decisions: list[Decision], inputs: dict[str, Any]) -> None:
        """Queue one batch (no I/O)."""
        if not decisions:
            return
        with self._lock:
            self._queue.append((decisions, inputs))
            for d in decisions:
                self._unwritten[d.decision_id] = (d, inputs)

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """A queued record, else the inner store's."""
        with self._lock:
            found = self._unwritten.get(decision_id)
        if found is None:
            return self.inner.get(decision_id)
        memory = MemoryExplanations()
        memory.save([found[0]], found[1])
        return memory.get(decision_id)

    def flush(self) -> int:
        """Write every queued batch; return how many decisions were written."""
        with self._lock:
            queue, self._queue = self._queue, []
        written = 0
        for decisions, inputs in queue:
            try:
                self.inner.save(decisions, inputs)
            except SendFlowrError:
                self.failures += 1
                with self._lock:
                    self._queue.append((decisions, inputs))  # retried on the next flush
                continue
            written += len(decisions)
            with self._lock:
                for d in decisions:
                    self._unwritten.pop(d.decision_id, None)
        return written

    def start(self) -> None:
        """Flush every ``interval`` s on a daemon thread."""
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(self.interval):
                self.flush()

        self._thread = threading.Thread(target=run, name="sendflowr-explanations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()
