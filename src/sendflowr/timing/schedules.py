"""Held schedules: a decision kept pending until its trigger time, then exactly one outcome.

A schedule is held (``ScheduleBook.hold``), and from then on ends in exactly one
*outcome*: one send command on ``send-commands`` or one cancellation on
``schedule-revisions`` — never two, never none, across restarts and kill -9.

Lifecycle (README "Held schedules")::

    hold ──► pending ──(trigger time)──► command on send-commands ──► fired
                │  ▲
                │  └── moved / pulled forward (revision, still pending)
                └──(complaint, unsubscribe…)──► cancellation on schedule-revisions ──► cancelled

Kafka is the source of truth, three topics:

- ``schedules`` (compacted, key = schedule id): the latest state of each schedule;
- ``send-commands`` (key = universal_id): one command per schedule, whose
  ``idempotency_key`` is the schedule id (several ESP adapters may consume it);
- ``schedule-revisions`` (key = universal_id): every revision (``moved``,
  ``pulled_forward``, ``cancelled``) with its explanation.

Exactly once: an outcome is published and acknowledged *before* the state says
so. A crash in between leaves a ``pending`` state whose outcome already exists;
``recover`` reads both outcome topics (from the oldest pending schedule's
creation time) and closes such schedules without publishing again. One process
(the inference role) owns the book; two running at once could both fire.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.errors import KafkaUnavailable, NotFound, ValidationError
from sendflowr.kafka.publish import Delivery, KafkaProducer

_log = logging.getLogger("sendflowr.timing.schedules")

__all__ = [
    "COMMANDS_TOPIC",
    "REVISIONS_TOPIC",
    "SCHEDULES_TOPIC",
    "Schedule",
    "ScheduleBook",
    "ScheduleTopics",
    "ensure_schedule_topics",
    "read_topic",
]

SCHEDULES_TOPIC: Final = "schedules"
COMMANDS_TOPIC: Final = "send-commands"
REVISIONS_TOPIC: Final = "schedule-revisions"

Status = Literal["pending", "fired", "cancelled"]
OnBreaker = Literal["cancel", "move"]
_CONFIRM_SECONDS: Final = 30.0


@dataclass(frozen=True)
class ScheduleTopics:
    """The three topic names (tests give each run its own)."""

    schedules: str = SCHEDULES_TOPIC
    commands: str = COMMANDS_TOPIC
    revisions: str = REVISIONS_TOPIC
    partitions: int = 3

    @staticmethod
    def for_events_topic(events_topic: str, default: str = "email-events") -> ScheduleTopics:
        """The default names for the default events topic; ``<events_topic>-schedules`` etc.
        for any other (so that deployments or tests sharing a broker do not share books)."""
        if events_topic == default:
            return ScheduleTopics()
        return ScheduleTopics(f"{events_topic}-schedules", f"{events_topic}-send-commands",
                              f"{events_topic}-schedule-revisions")  # fmt: skip


@dataclass(frozen=True)
class Schedule:
    """One held decision and where it stands (the value of the ``schedules`` topic)."""

    schedule_id: str
    universal_id: str
    decision_id: str
    campaign_id: str
    channel: str
    trigger_at: datetime
    target_at: datetime
    window_start: datetime
    window_end: datetime
    created_at: datetime
    on_breaker: OnBreaker = "cancel"
    status: Status = "pending"
    revision: int = 0
    reason: str = ""
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (times ISO-8601 UTC)."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> Schedule:
        """Parse ``to_json``'s form."""
        times = ("trigger_at", "target_at", "window_start", "window_end", "created_at")
        fields = dict(data)
        for k in (*times, "updated_at"):
            if fields.get(k) is not None:
                fields[k] = datetime.fromisoformat(fields[k])
        return Schedule(**fields)

    def command(self) -> dict[str, Any]:
        """The send command published at the trigger time."""
        return {
            "idempotency_key": self.schedule_id,
            "schedule_id": self.schedule_id,
            "decision_id": self.decision_id,
            "universal_id": self.universal_id,
            "campaign_id": self.campaign_id,
            "channel": self.channel,
            "trigger_at": self.trigger_at.isoformat(),
            "target_at": self.target_at.isoformat(),
            "revision": self.revision,
        }


def ensure_schedule_topics(bootstrap: str, topics: ScheduleTopics, timeout: float = 30.0) -> None:
    """Create the three topics if missing (``schedules`` compacted); idempotent."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not answer: {exc}") from exc
    factor = min(max(len(meta.brokers), 1), 3)
    wanted = [
        NewTopic(topics.schedules, topics.partitions, factor, config={"cleanup.policy": "compact"}),
        NewTopic(topics.commands, topics.partitions, factor),
        NewTopic(topics.revisions, topics.partitions, factor),
    ]
    missing = [t for t in wanted if t.topic not in meta.topics]
    created = admin.create_topics(missing, request_timeout=timeout) if missing else {}
    for name, future in created.items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise KafkaUnavailable(f"could not create topic {name}: {exc}") from exc
    deadline = time.monotonic() + timeout
    names = {t.topic for t in wanted}
    while time.monotonic() < deadline:
        known = admin.list_topics(timeout=timeout).topics
        if all(n in known and not known[n].error for n in names):
            return
        time.sleep(0.1)


def read_topic(
    bootstrap: str, topic: str, since: datetime | None = None, timeout: float = 60.0
) -> Iterable[tuple[bytes | None, bytes | None]]:
    """Every record of ``topic`` up to its current end (from ``since`` when given)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sendflowr-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None:
            return
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        ends: dict[int, int] = {}
        starts: list[TopicPartition] = []
        for tp in parts:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            if high > low:
                ends[tp.partition] = high
                starts.append(TopicPartition(topic, tp.partition, low))
        if since is not None and starts:
            ms = int(since.timestamp() * 1000)
            found = consumer.offsets_for_times(
                [TopicPartition(topic, t.partition, ms) for t in starts], timeout=timeout
            )
            starts = [
                TopicPartition(topic, f.partition, f.offset if f.offset >= 0 else ends[f.partition])
                for f in found
            ]
        starts = [t for t in starts if t.offset < ends[t.partition]]
        if not starts:
            return
        consumer.assign(starts)
        left = {t.partition for t in starts}
        deadline = time.monotonic() + timeout
        while left:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"could not read {topic} to its end in {timeout:g} s")
            for msg in consumer.consume(10_000, 0.5):
                partition, offset = msg.partition(), msg.offset()
                if msg.error() is not None or partition is None or offset is None:
                    continue
                yield msg.key(), msg.value()
                if offset + 1 >= ends[partition]:
                    left.discard(partition)
    finally:
        consumer.close()


class ScheduleBook:
    """The pending schedules of this process, published and fired through Kafka.

    ``tick`` fires every due schedule (the background thread calls it; tests on a
    manual clock call it themselves). Thread-safe: one lock orders holds,
    revisions and firing, so a schedule cannot be both cancelled and fired.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        bootstrap: str,
        *,
        topics: ScheduleTopics | None = None,
        clock: Clock = SYSTEM_CLOCK,
        on_revision: Callable[[Schedule, str], None] | None = None,
    ) -> None:
        self.producer = producer
        self.bootstrap = bootstrap
        self.topics = topics or ScheduleTopics()
        self.clock = clock
        self.on_revision = on_revision
        self._all: dict[str, Schedule] = {}
        self._by_user: dict[str, set[str]] = {}
        self._due: list[tuple[datetime, str, int]] = []  # (trigger, id, revision), lazy
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.fired = 0
        self.cancelled = 0

    # --- state ---------------------------------------------------------------
    def _remember(self, s: Schedule) -> None:
        self._all[s.schedule_id] = s
        if s.status == "pending":
            self._by_user.setdefault(s.universal_id, set()).add(s.schedule_id)
            heapq.heappush(self._due, (s.trigger_at, s.schedule_id, s.revision))
        else:
            self._by_user.get(s.universal_id, set()).discard(s.schedule_id)

    def get(self, schedule_id: str) -> Schedule:
        """One schedule (``NotFound`` if unknown)."""
        s = self._all.get(schedule_id)
        if s is None:
            raise NotFound("schedule_id", f"no schedule {schedule_id}")
        return s

    def find(
        self, *, universal_id: str | None = None, campaign_id: str | None = None, limit: int = 1000
    ) -> list[Schedule]:
        """Schedules of a recipient and/or a campaign, newest first (``limit`` at most)."""
        found = [
            s
            for s in list(self._all.values())  # a snapshot: the firing thread may add meanwhile
            if (universal_id is None or s.universal_id == universal_id)
            and (campaign_id is None or s.campaign_id == campaign_id)
        ]
        found.sort(key=lambda s: s.created_at, reverse=True)
        return found[:limit]

    def pending_of(self, universal_id: str) -> list[Schedule]:
        """The recipient's pending schedules."""
        return [self._all[i] for i in sorted(self._by_user.get(universal_id, ()))]

    def counts(self) -> dict[str, int]:
        """Schedules by status."""
        out = {"pending": 0, "fired": 0, "cancelled": 0}
        for s in list(self._all.values()):  # a snapshot (list() of a dict is atomic)
            out[s.status] += 1
        return out

    # --- publishing ------------------------------------------------------------
    def _publish(self, topic: str, records: list[tuple[bytes, bytes]], what: str) -> None:
        delivery = Delivery(len(records))
        self.producer.produce(topic, records, delivery)
        self.producer.confirm(delivery, _CONFIRM_SECONDS, what)

    def _states(self, schedules: list[Schedule]) -> None:
        self._publish(
            self.topics.schedules,
            [(s.schedule_id.encode(), orjson.dumps(s.to_json())) for s in schedules],
            "schedule states",
        )

    # --- holding ---------------------------------------------------------------
    def hold(self, schedules: list[Schedule]) -> list[Schedule]:
        """Keep these pending schedules; returns once Kafka acknowledged their state."""
        for s in schedules:
            if s.status != "pending":
                raise ValidationError("status", "a new schedule is pending")
            if s.schedule_id in self._all:
                raise ValidationError("schedule_id", f"{s.schedule_id} is already held")
        with self._lock:
            self._states(schedules)
            for s in schedules:
                self._remember(s)
        return schedules

    # --- firing ----------------------------------------------------------------
    def tick(self) -> int:
        """Fire every pending schedule whose trigger time has come; return how many."""
        now = self.clock.now()
        with self._lock:
            due: list[Schedule] = []
            while self._due and self._due[0][0] <= now:
                _, sid, rev = heapq.heappop(self._due)
                s = self._all.get(sid)
                if s is not None and s.status == "pending" and s.revision == rev:
                    due.append(s)
            if not due:
                return 0
            self._publish(
                self.topics.commands,
                [(s.universal_id.encode(), orjson.dumps(s.command())) for s in due],
                "send commands",
            )
            done = [replace(s, status="fired", updated_at=now) for s in due]
            self._states(done)
            for s in done:
                self._remember(s)
            self.fired += len(done)
            return len(done)

    # --- revisions -------------------------------------------------------------
    def revise(self, schedule: Schedule, kind: str, explanation: dict[str, Any]) -> Schedule:
        """Publish one revision of a pending schedule: ``cancelled`` ends it; any other kind
        (``moved``, ``pulled_forward``) keeps it pending at ``schedule``'s new times."""
        with self._lock:
            current = self._all.get(schedule.schedule_id)
            if current is None or current.status != "pending":
                return current or schedule
            now = self.clock.now()
            status: Status = "cancelled" if kind == "cancelled" else "pending"
            new = replace(
                schedule,
                status=status,
                revision=current.revision + 1,
                reason=str(explanation.get("reason", kind)),
                updated_at=now,
            )
            body = {
                "kind": kind,
                "schedule_id": new.schedule_id,
                "universal_id": new.universal_id,
                "campaign_id": new.campaign_id,
                "decision_id": new.decision_id,
                "revision": new.revision,
                "previous_trigger_at": current.trigger_at.isoformat(),
                "trigger_at": new.trigger_at.isoformat(),
                "at": now.isoformat(),
                "explanation": explanation,
            }
            # the outcome (a cancellation) is acknowledged before the state says so
            self._publish(
                self.topics.revisions,
                [(new.universal_id.encode(), orjson.dumps(body))],
                "schedule revisions",
            )
            self._states([new])
            self._remember(new)
            if status == "cancelled":
                self.cancelled += 1
        if self.on_revision is not None:
            self.on_revision(new, kind)
        return new

    def cancel(self, schedule_id: str, reason: str) -> Schedule:
        """Cancel one pending schedule (a no-op on one that already ended)."""
        return self.revise(self.get(schedule_id), "cancelled", {"reason": reason})

    # --- recovery --------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Rebuild the book from Kafka after a start, restart or kill -9.

        Reads the compacted ``schedules`` topic; a schedule still pending there whose
        command or cancellation was already published is closed without publishing
        again. Returns counts: ``loaded``, ``closed_fired``, ``closed_cancelled``.
        """
        with self._lock:
            latest: dict[str, Schedule] = {}
            for key, value in read_topic(self.bootstrap, self.topics.schedules):
                if key is None:
                    continue
                if value is None:
                    latest.pop(key.decode(), None)
                    continue
                s = Schedule.from_json(orjson.loads(value))
                old = latest.get(s.schedule_id)
                if old is None or old.status == "pending":
                    latest[s.schedule_id] = s
            pending = [s for s in latest.values() if s.status == "pending"]
            closed: list[Schedule] = []
            fired = cancelled = 0
            if pending:
                since = min(s.created_at for s in pending)
                commanded = {
                    orjson.loads(v)["idempotency_key"]
                    for _, v in read_topic(self.bootstrap, self.topics.commands, since)
                    if v is not None
                }
                dropped = {
                    body["schedule_id"]
                    for _, v in read_topic(self.bootstrap, self.topics.revisions, since)
                    if v is not None and (body := orjson.loads(v))["kind"] == "cancelled"
                }
                now = self.clock.now()
                for s in pending:
                    if s.schedule_id in commanded:
                        closed.append(replace(s, status="fired", updated_at=now))
                        fired += 1
                    elif s.schedule_id in dropped:
                        closed.append(replace(s, status="cancelled", updated_at=now))
                        cancelled += 1
                if closed:
                    self._states(closed)
                for s in closed:
                    latest[s.schedule_id] = s
            self._all.clear()
            self._by_user.clear()
            self._due.clear()
            for s in latest.values():
                self._remember(s)
            counts = self.counts()
            self.fired, self.cancelled = counts["fired"], counts["cancelled"]
            return {"loaded": len(latest), "closed_fired": fired, "closed_cancelled": cancelled}

    # --- background ------------------------------------------------------------
    def start(self, interval: float = 0.2) -> None:
        """Recover, then fire due schedules every ``interval`` s on a daemon thread."""
        self.producer.start()
        ensure_schedule_topics(self.bootstrap, self.topics)
        self.recover()
        self._stop.clear()

        def run() -> None:
            failed = False
            while not self._stop.wait(interval):
                try:
                    if failed:
                        # some commands may have been acknowledged: re-read what was
                        # published so that the retry never sends one twice
                        self.recover()
                        failed = False
                    self.tick()
                except Exception:  # the firing thread must outlive any one failure
                    _log.exception("firing held schedules failed; recovering and retrying")
                    failed = True

        self._thread = threading.Thread(target=run, name="sendflowr-schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the firing thread and flush the producer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.producer.stop()


def new_schedule_id(now: datetime) -> str:
    """A fresh schedule id (time-ordered)."""
    return f"sch_{int(now.astimezone(UTC).timestamp() * 1000):013d}_{uuid.uuid4().hex[:12]}"
