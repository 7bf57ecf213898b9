"""Held schedules on the real broker: exactly one outcome per schedule, across crashes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from sendflowr.clock import ManualClock
from sendflowr.kafka import producer_config
from sendflowr.kafka.publish import KafkaProducer
from sendflowr.settings import Settings
from sendflowr.timing.schedules import (
    Schedule,
    ScheduleBook,
    ScheduleTopics,
    ensure_schedule_topics,
    read_topic,
)
from tests.conftest import unique_name

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _topics() -> ScheduleTopics:
    base = unique_name("sch")
    return ScheduleTopics(f"{base}-schedules", f"{base}-commands", f"{base}-revisions")


def _book(settings: Settings, topics: ScheduleTopics, clock: ManualClock) -> ScheduleBook:
    producer = KafkaProducer(producer_config(settings))
    producer.start()
    ensure_schedule_topics(settings.kafka_bootstrap_servers, topics)
    return ScheduleBook(producer, settings.kafka_bootstrap_servers, topics=topics, clock=clock)


def _schedules(n: int, minutes: int, prefix: str = "s") -> list[Schedule]:
    out = []
    for i in range(n):
        trigger = T0 + timedelta(seconds=30 + (i * minutes * 60) // n)
        out.append(
            Schedule(
                schedule_id=f"{prefix}{i:05d}",
                universal_id=f"u{i % 2500}",
                decision_id=f"d{i}",
                campaign_id="c1",
                channel="email",
                trigger_at=trigger,
                target_at=trigger + timedelta(seconds=20),
                window_start=T0,
                window_end=T0 + timedelta(hours=4),
                created_at=T0,
            )
        )
    return out


def _outcomes(settings: Settings, topics: ScheduleTopics) -> tuple[Counter[str], Counter[str]]:
    bootstrap = settings.kafka_bootstrap_servers
    commands: Counter[str] = Counter(
        orjson.loads(v)["idempotency_key"]
        for _, v in read_topic(bootstrap, topics.commands)
        if v is not None
    )
    cancelled: Counter[str] = Counter()
    for _, v in read_topic(bootstrap, topics.revisions):
        body = orjson.loads(v or b"{}")
        if body.get("kind") == "cancelled":
            cancelled[body["schedule_id"]] += 1
    return commands, cancelled


def test_ten_thousand_held_schedules_fire_exactly_once(kafka_settings: Settings) -> None:
    topics, clock = _topics(), ManualClock(T0)
    book = _book(kafka_settings, topics, clock)
    held = _schedules(10_000, minutes=10)
    book.hold(held)
    assert book.tick() == 0  # nothing is due yet
    for _ in range(12 * 6):  # ten-second steps over the next 12 minutes
        clock.advance(timedelta(seconds=10))
        book.tick()
        assert book.tick() == 0  # a second tick at the same time fires nothing again
    assert book.counts() == {"pending": 0, "fired": 10_000, "cancelled": 0}
    book.producer.stop()
    commands, cancelled = _outcomes(kafka_settings, topics)
    assert len(commands) == 10_000 and set(commands.values()) == {1}
    assert not cancelled
    # commands carry the decision, campaign, channel and times
    records = read_topic(kafka_settings.kafka_bootstrap_servers, topics.commands)
    first = next(orjson.loads(v) for _, v in records if v is not None)
    assert {"decision_id", "campaign_id", "channel", "trigger_at", "target_at"} <= set(first)


def test_crash_between_command_and_state_never_fires_twice(kafka_settings: Settings) -> None:
    topics, clock = _topics(), ManualClock(T0)
    book = _book(kafka_settings, topics, clock)
    held = _schedules(2_000, minutes=4)
    book.hold(held)
    clock.advance(timedelta(minutes=2))
    # a crash after the commands were acknowledged, before the state said "fired":
    due = [s for s in held if s.trigger_at <= clock.now()]
    book._publish(
        topics.commands,
        [(s.universal_id.encode(), orjson.dumps(s.command())) for s in due],
        "send commands",
    )
    # and a cancellation published but not recorded either
    victim = next(s for s in held if s.trigger_at > clock.now())
    book._publish(
        topics.revisions,
        [(b"x", orjson.dumps({"kind": "cancelled", "schedule_id": victim.schedule_id}))],
        "schedule revisions",
    )
    book.producer.stop()  # the process is gone; its memory with it

    restarted = _book(kafka_settings, topics, clock)
    report = restarted.recover()
    assert report == {
        "loaded": 2_000,
        "closed_fired": len(due),
        "closed_cancelled": 1,
    }
    assert restarted.tick() == 0  # the due ones are already fired
    clock.advance(timedelta(minutes=5))
    assert restarted.tick() == 2_000 - len(due) - 1
    restarted.producer.stop()
    commands, cancelled = _outcomes(kafka_settings, topics)
    assert set(commands.values()) == {1} and len(commands) == 1_999
    assert set(cancelled) == {victim.schedule_id}
    assert not set(commands) & set(cancelled)


def test_cancel_ends_a_schedule_with_one_cancellation(kafka_settings: Settings) -> None:
    topics, clock = _topics(), ManualClock(T0)
    book = _book(kafka_settings, topics, clock)
    held = _schedules(10, minutes=1)
    book.hold(held)
    book.cancel(held[0].schedule_id, "complaint")
    book.cancel(held[0].schedule_id, "complaint")  # already ended: no second cancellation
    clock.advance(timedelta(minutes=3))
    assert book.tick() == 9
    assert book.get(held[0].schedule_id).status == "cancelled"
    assert [s.schedule_id for s in book.find(universal_id="u1")] == [held[1].schedule_id]
    book.producer.stop()
    commands, cancelled = _outcomes(kafka_settings, topics)
    assert held[0].schedule_id not in commands and cancelled == {held[0].schedule_id: 1}


def test_kill_nine_twice_still_one_outcome_per_schedule(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    base = unique_name("sch")
    topics = ScheduleTopics(f"{base}-schedules", f"{base}-commands", f"{base}-revisions")
    clock = ManualClock(T0)
    book = _book(kafka_settings, topics, clock)
    book.hold(_schedules(10_000, minutes=10))
    book.producer.stop()
    clock_file = tmp_path / "clock"
    clock_file.write_text(T0.isoformat())
    bootstrap = kafka_settings.kafka_bootstrap_servers

    def spawn() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.schedule_worker", bootstrap, base,
             str(clock_file)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    def commands() -> int:
        return sum(1 for _ in read_topic(bootstrap, topics.commands))

    proc = spawn()
    now = T0
    kills = 0
    try:
        for step in range(1, 13 * 6 + 1):  # ten-second steps over the next 13 minutes
            now = T0 + timedelta(seconds=10 * step)
            (tmp_path / "clock.new").write_text(now.isoformat())
            (tmp_path / "clock.new").replace(clock_file)  # atomic: never read half-written
            time.sleep(0.05)
            if step in (25, 50):  # mid-way, while commands are being published
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                assert proc.stdout is not None
                proc.stdout.close()
                kills += 1
                proc = spawn()
        deadline = time.monotonic() + 120
        while commands() < 10_000 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert kills == 2
    fired, cancelled = _outcomes(kafka_settings, topics)
    assert len(fired) == 10_000 and set(fired.values()) == {1}, Counter(fired.values())
    assert not cancelled
