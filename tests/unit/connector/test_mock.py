"""Mock event generation: the generator's model."""

from __future__ import annotations

from sendflowr.connector import mock
from sendflowr.events import EVENT_TYPES


def test_generator_model_is_used() -> None:
    events, source = mock.generate_mock_events(50, seed=1)
    again, _ = mock.generate_mock_events(50, seed=1)
    assert source == "generator"
    assert len(events) == 50 and events == again
    assert {e.event_type for e in events} <= EVENT_TYPES
    assert all(e.timestamp.tzinfo is not None and e.recipient_email for e in events)
