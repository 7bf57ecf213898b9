"""Mock events for ``POST /api/mock/events/generate?count=N``.

The generator's model is used when it is importable:
``sendflowr.generator.sample_events(count, seed)`` returning ``IncomingEvent``s.
Otherwise this module's own simple journey: per user, sent → delivered (a few
seconds later) → sometimes opened → sometimes clicked, ``count`` events in all.
``source`` in the answer says which one produced the events.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sendflowr.events import IncomingEvent

__all__ = ["generate_mock_events"]

_CAMPAIGNS = ("newsletter", "promotion", "product_reco", "welcome_series")


def _generator_model() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("sendflowr.generator")
    except ImportError:
        return None
    sample = getattr(module, "sample_events", None)
    return sample if callable(sample) else None


def _journey(count: int, seed: int, now: datetime) -> list[IncomingEvent]:
    rng = random.Random(seed)
    events: list[IncomingEvent] = []
    user = 0
    while len(events) < count:
        user += 1
        campaign = rng.choice(_CAMPAIGNS)
        sent_at = now - timedelta(minutes=rng.randint(5, 24 * 60))
        latency = rng.lognormvariate(2.5, 0.4)
        delivered_at = sent_at + timedelta(seconds=latency)
        common: dict[str, Any] = {
            "recipient_email": f"mock.user{user % 350}@example.com",
            "recipient_id": f"mock-{user % 350}",
            "esp": "klaviyo",
            "campaign_id": campaign,
            "campaign_name": campaign.replace("_", " ").title(),
            "message_id": f"mock-{seed}-{user}",
            "channel": "email",
            "metadata": {"mock": True},
        }
        journey = [
            IncomingEvent(event_type="sent", timestamp=sent_at, **common),
            IncomingEvent(
                event_type="delivered",
                timestamp=delivered_at,
                latency_seconds=round(latency, 3),
                send_time=sent_at,
                hour_of_day=sent_at.hour,
                minute=sent_at.minute,
                day_of_week=sent_at.weekday(),
                campaign_type="promotional",
                payload_size_bytes=rng.randint(40_000, 120_000),
                queue_depth_estimate=rng.randint(100, 3000),
                **common,
            ),
        ]
        if rng.random() < 0.4:
            opened_at = delivered_at + timedelta(minutes=rng.expovariate(1 / 120))
            journey.append(IncomingEvent(event_type="opened", timestamp=opened_at, **common))
            if rng.random() < 0.4:
                clicked_at = opened_at + timedelta(minutes=rng.uniform(1, 60))
                journey.append(
                    IncomingEvent(
                        event_type="clicked",
                        timestamp=clicked_at,
                        click_url=f"https://shop.example.com/{campaign}",
                        **common,
                    )
                )
        events.extend(journey)
    return events[:count]


def generate_mock_events(
    count: int, seed: int, now: datetime | None = None
) -> tuple[list[IncomingEvent], str]:
    """``count`` mock events and the name of what made them (``generator`` or ``journey``)."""
    sample = _generator_model()
    if sample is not None:
        events = list(sample(count, seed))
        if all(isinstance(e, IncomingEvent) for e in events):
            return events[:count], "generator"
    return _journey(count, seed, now or datetime.now(UTC)), "journey"
