"""Canonical event schema and ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from sendflowr.events import CanonicalEvent, decode_event, encode_event, uuid7
from sendflowr.identity import hash_email


def test_uuid7_is_version_7_time_ordered_and_reproducible() -> None:
    t = datetime(2025, 10, 1, 6, 0, tzinfo=UTC)
    a = uuid7(t, b"\x01" * 10)
    assert uuid.UUID(a).version == 7
    assert a == uuid7(t, b"\x01" * 10)
    later = uuid7(datetime(2025, 10, 1, 6, 0, 1, tzinfo=UTC), b"\x00" * 10)
    assert later > a
    assert int(a.replace("-", "")[:12], 16) == int(t.timestamp() * 1000)


def test_uuid7_rejects_naive_time() -> None:
    with pytest.raises(ValueError):
        uuid7(datetime(2025, 1, 1))  # noqa: DTZ001


def test_event_round_trips_and_requires_aware_timestamp() -> None:
    event = CanonicalEvent(
        event_id=uuid7(datetime(2025, 10, 1, tzinfo=UTC)),
        event_type="delivered",
        timestamp=datetime(2025, 10, 1, 7, 15, 0, 123000, tzinfo=UTC),
        universal_id="sf_0123456789abcdef",
        recipient_email_hash=hash_email(" Ann@Example.COM "),
        metadata={"persona": "morning_person"},
        latency_seconds=12.5,
    )
    assert decode_event(encode_event(event)) == event
    with pytest.raises(msgspec.ValidationError, match="timestamp"):
        decode_event(
            b'{"event_id":"x","event_type":"sent","timestamp":"2025-01-01T00:00:00",'
            b'"universal_id":"sf_1"}'
        )


def test_hash_email_normalises_first() -> None:
    assert hash_email(" Ann@Example.COM ") == hash_email("ann@example.com")
    assert len(hash_email("a@b.c")) == 64
