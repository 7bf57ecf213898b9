"""The followed stream on the real broker: live context and revisions of held schedules."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from sendflowr.clock import ManualClock
from sendflowr.events import CanonicalEvent
from sendflowr.kafka import ensure_topics, producer_config
from sendflowr.kafka.publish import KafkaProducer
from sendflowr.settings import Settings
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.live import LiveContexts, LiveFollower, LiveSource
from sendflowr.timing.revisions import Reviser
from sendflowr.timing.schedules import (
    Schedule,
    ScheduleBook,
    ScheduleTopics,
    ensure_schedule_topics,
    read_topic,
)
from sendflowr.timing.sources import MemorySource, evidence_from_rows
from tests.conftest import unique_name
from tests.integration.sink_support import event_records, produce, wait_for

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _event(uid: str, kind: str, at: datetime) -> CanonicalEvent:
    return CanonicalEvent(
        event_id=str(uuid.uuid4()), event_type=kind, timestamp=at, universal_id=uid
    )


def _schedule(sid: str, uid: str, trigger: datetime, on_breaker: str = "cancel") -> Schedule:
    return Schedule(
        schedule_id=sid, universal_id=uid, decision_id=f"d-{sid}", campaign_id="c",
        channel="email", trigger_at=trigger, target_at=trigger + timedelta(seconds=20),
        window_start=T0, window_end=T0 + timedelta(hours=6), created_at=T0,
        on_breaker=on_breaker,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def stack(kafka_settings: Settings) -> Iterator[tuple[ManualClock, ScheduleBook, LiveFollower]]:
    ensure_topics(kafka_settings.kafka_bootstrap_servers, [(kafka_settings.topic, 3)])
    base = unique_name("sch")
    topics = ScheduleTopics(f"{base}-schedules", f"{base}-commands", f"{base}-revisions")
    ensure_schedule_topics(kafka_settings.kafka_bootstrap_servers, topics)
    clock = ManualClock(T0)
    producer = KafkaProducer(producer_config(kafka_settings))
    producer.start()
    book = ScheduleBook(
        producer, kafka_settings.kafka_bootstrap_servers, topics=topics, clock=clock
    )
    follower = LiveFollower(kafka_settings, LiveContexts(), clock=clock)
    follower.listen(Reviser(book))
    follower.start()
    try:
        yield clock, book, follower
    finally:
        follower.stop()
        producer.stop()


def test_signals_revise_pending_schedules(
    kafka_settings: Settings, stack: tuple[ManualClock, ScheduleBook, LiveFollower]
) -> None:
    clock, book, follower = stack
    soon = [_schedule(f"a{i:04d}", f"a{i}", T0 + timedelta(seconds=30 + i)) for i in range(1000)]
    later = [
        _schedule(f"b{i:04d}", f"b{i}", T0 + timedelta(hours=2, seconds=i)) for i in range(500)
    ]
    multi = [_schedule(f"m{i}", "multi", T0 + timedelta(hours=1 + i)) for i in range(3)]
    moved = [_schedule("mv", "mover", T0 + timedelta(minutes=10), on_breaker="move")]
    book.hold(soon + later + multi + moved)
    signal_at = T0 + timedelta(seconds=10)
    events = [_event(s.universal_id, "complaint", signal_at) for s in soon[:500]]
    events += [_event(s.universal_id, "site_visit", signal_at) for s in later]
    events += [_event("multi", "unsubscribed", signal_at)]
    events += [_event("mover", "support_ticket", signal_at - timedelta(hours=47, minutes=30))]
    clock.advance(timedelta(seconds=15))
    produce(kafka_settings, event_records(events))
    wait_for(lambda: follower.live.applied >= len(events), 60, "the follower to read the signals")
    wait_for(lambda: book.counts()["cancelled"] >= 503, 30, "the revisions")
    for _ in range(7 * 60):  # one-minute steps over the next 7 hours
        clock.advance(timedelta(minutes=1))
        book.tick()
    assert book.counts() == {"pending": 0, "fired": 1000 - 500 + 500 + 1, "cancelled": 503}

    bootstrap = kafka_settings.kafka_bootstrap_servers
    commands = [orjson.loads(v or b"{}") for _, v in read_topic(bootstrap, book.topics.commands)]
    revisions = [orjson.loads(v or b"{}") for _, v in read_topic(bootstrap, book.topics.revisions)]
    fired = Counter(c["idempotency_key"] for c in commands)
    assert set(fired.values()) == {1}
    cancelled = {r["schedule_id"] for r in revisions if r["kind"] == "cancelled"}
    assert cancelled == {s.schedule_id for s in soon[:500] + multi}
    assert not cancelled & set(fired)
    # hot paths: every 'later' schedule fired inside its 30-minute boost window
    signal = epoch_minute(signal_at)
    for c in commands:
        if c["schedule_id"].startswith("b"):
            target = epoch_minute(datetime.fromisoformat(c["target_at"]))
            assert signal < target <= signal + 30, c
    pulled = [r for r in revisions if r["kind"] == "pulled_forward"]
    assert len(pulled) == 500 and all(r["explanation"]["signal"] == "site_visit" for r in pulled)
    # the support ticket's 48 h suppression ends 30 min after T0: the schedule moved there
    (mv,) = [c for c in commands if c["schedule_id"] == "mv"]
    assert datetime.fromisoformat(mv["target_at"]) == T0 + timedelta(minutes=30)


def test_signal_reaches_the_decision_context_within_two_seconds(
    kafka_settings: Settings, stack: tuple[ManualClock, ScheduleBook, LiveFollower]
) -> None:
    clock, _, follower = stack
    source = LiveSource(MemorySource(evidence_from_rows([])), follower.live)
    delays = []
    for i in range(20):
        uid = f"s2e{i}"
        started = time.perf_counter()
        produce(kafka_settings, event_records([_event(uid, "complaint", clock.now())]))
        while not source.contexts([uid], epoch_minute(clock.now())):
            time.sleep(0.005)
            assert time.perf_counter() - started < 10
        delays.append(time.perf_counter() - started)
    delays.sort()
    assert delays[int(0.95 * (len(delays) - 1))] < 2.0, delays
