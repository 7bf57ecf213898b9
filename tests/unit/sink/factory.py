"""Canonical events for sink tests, reproducible from a seed (no wall clock)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sendflowr.events import CanonicalEvent, encode_event, uuid7

__all__ = ["FakeRecord", "make_event", "make_events", "records_for"]

BASE = datetime(2025, 10, 1, tzinfo=UTC)


def make_event(rng: random.Random, index: int, **overrides: Any) -> CanonicalEvent:
    """One plausible delivered/opened/clicked event; ``overrides`` replace fields."""
    ts = BASE + timedelta(seconds=rng.randrange(0, 86_400 * 100), milliseconds=rng.randrange(1000))
    kind = overrides.get("event_type") or rng.choice(("sent", "delivered", "opened", "clicked"))
    sent = ts - timedelta(seconds=rng.uniform(1, 60))
    fields: dict[str, Any] = {
        "event_id": uuid7(ts, rng.randbytes(10)),
        "event_type": kind,
        "timestamp": ts,
        "esp": "klaviyo",
        "universal_id": f"sf_{rng.randrange(350):016x}",
        "recipient_email_hash": f"{rng.getrandbits(256):064x}",
        "campaign_id": "newsletter",
        "campaign_name": "Weekly newsletter",
        "message_id": f"msg-{index}",
        "subject": "Your weekly picks",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
        "ip_address": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "metadata": {"persona": "morning_person", "channel": "email"},
        "channel": "email",
    }
    if kind == "delivered":
        fields.update(
            send_time=sent,
            latency_seconds=(ts - sent).total_seconds(),
            campaign_type="promotional",
            payload_size_bytes=rng.randrange(40_000, 140_000),
            queue_depth_estimate=rng.randrange(50, 10_000),
        )
    fields.update(overrides)
    return CanonicalEvent(**fields)


def make_events(n: int, seed: int = 7, **overrides: Any) -> list[CanonicalEvent]:
    """``n`` events from ``seed``."""
    rng = random.Random(seed)
    return [make_event(rng, i, **overrides) for i in range(n)]


@dataclass
class FakeRecord:
    """A stand-in for ``confluent_kafka.Message`` in unit tests."""

    _value: bytes | None
    _offset: int
    _partition: int = 0
    _topic: str = "email-events"
    _key: bytes | None = None

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


def records_for(events: list[CanonicalEvent], start: int = 0) -> list[FakeRecord]:
    """Fake records of ``events`` at consecutive offsets from ``start``."""
    return [
        FakeRecord(encode_event(e), start + i, _key=e.universal_id.encode())
        for i, e in enumerate(events)
    ]
