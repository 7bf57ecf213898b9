"""Mock event generation: the generator's model when importable, else a simple journey."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sendflowr.connector import mock
from sendflowr.events import EVENT_TYPES

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_journey_fallback_makes_count_valid_events_deterministically(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mock, "_generator_model", lambda: None)
    events, source = mock.generate_mock_events(203, seed=5, now=NOW)
    again, _ = mock.generate_mock_events(203, seed=5, now=NOW)
    assert source == "journey"
    assert len(events) == 203 and events == again
    assert {e.event_type for e in events} <= EVENT_TYPES
    assert events[0].event_type == "sent" and events[1].event_type == "delivered"
    assert events[1].latency_seconds is not None and events[1].send_time == events[0].timestamp
    assert all(e.timestamp.tzinfo is not None and e.recipient_email for e in events)


def test_generator_model_is_used_when_available() -> None:
    events, source = mock.generate_mock_events(50, seed=1, now=NOW)
    if mock._generator_model() is None:
        pytest.skip("sendflowr.generator.sample_events is not available")
    assert source == "generator"
    assert len(events) == 50
